/* compile check: the implementation, alone */
#define NN_IMPLEMENTATION
#include "nn.h"
int main(void) { return 0; }
