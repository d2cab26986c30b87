/* ARM semihosting: the firmware's only output (QEMU prints it on the host's stdout) and its
   exit status. A few lines instead of newlib's stdio, which would pull in malloc. */
#ifndef SEMIHOST_H
#define SEMIHOST_H
#include <stdint.h>

static inline int sh_call(int op, void *arg) {
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
static inline void sh_puts(const char *s) { sh_call(0x04, (void *)s); }    /* SYS_WRITE0 */
static inline void sh_exit(int code) {                                      /* SYS_EXIT_EXTENDED */
    uint32_t a[2] = { 0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code };
    sh_call(0x20, a);
    for (;;) {}
}
#endif
