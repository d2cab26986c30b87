/* compile check: a second file of a program, declarations only, after stb headers
   (nothing static may sit in the declaration half) */
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
#include "nn.h"
int uses_nn(nn_ctx *ctx);
int uses_nn(nn_ctx *ctx) { return nn_error(ctx) != NULL; }
