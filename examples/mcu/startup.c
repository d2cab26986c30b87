/* Start-up for a Cortex-M3/M4 under QEMU (mps2-an385/an386): the vector table, a reset
   handler that copies .data, zeroes .bss, turns on the FPU where there is one and calls
   main, and output through ARM semihosting (QEMU's -semihosting), so no stdio is linked. */
#include <stdint.h>
#include "semihost.h"

extern uint32_t _data_load, _data_start, _data_end, _bss_start, _bss_end, _stack_top;
int main(void);
void reset_handler(void);

static void fault_handler(void) { sh_puts("fault: the firmware crashed\n"); sh_exit(3); }

volatile uint32_t systick_wraps;       /* SysTick's 24-bit counter wrapped (the firmware's clock) */
static void systick_handler(void) { systick_wraps++; }

__attribute__((section(".vectors"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))&_stack_top, reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, 0, 0, fault_handler, systick_handler,
};

void reset_handler(void) {
    uint32_t *s = &_data_load, *d = &_data_start;
    while (d < &_data_end) *d++ = *s++;
    for (d = &_bss_start; d < &_bss_end; d++) *d = 0;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;   /* CPACR: CP10 and CP11 full access */
    __asm volatile("dsb\n\tisb");
#endif
    sh_exit(main());
}
