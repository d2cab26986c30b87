
/* ======================================================================== */
/*                              IMPLEMENTATION                              */
/* ======================================================================== */
#ifdef NN_IMPLEMENTATION
#ifndef NN_IMPLEMENTATION_DONE
#define NN_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <limits.h>
#include <stdio.h>      /* snprintf for messages; with NN_NO_STDIO nothing is printed or opened */

#if defined(NN_MALLOC) && defined(NN_REALLOC) && defined(NN_FREE)
#elif !defined(NN_MALLOC) && !defined(NN_REALLOC) && !defined(NN_FREE)
#include <stdlib.h>
#define NN_MALLOC(sz) malloc(sz)
#define NN_REALLOC(p, sz) realloc(p, sz)
#define NN_FREE(p) free(p)
#else
#error "nn.h: define all of NN_MALLOC, NN_REALLOC and NN_FREE, or none of them"
#endif

#ifndef NN_ASSERT
#include <assert.h>
#define NN_ASSERT(x) assert(x)
#endif

#ifndef NAN
#define NAN (0.0f / 0.0f)
#endif

#ifdef __cplusplus
#define NN__CAST(T, x) (static_cast<T>(x))
#else
#define NN__CAST(T, x) ((T)(x))
#endif

