/* compile check: the implementation with every stb header it can use included first */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
#define NN_IMPLEMENTATION
#include "nn.h"
int main(void) { return 0; }
