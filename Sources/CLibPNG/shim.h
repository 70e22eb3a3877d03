#ifndef TUITIONGUARD_CLIBPNG_SHIM_H
#define TUITIONGUARD_CLIBPNG_SHIM_H
// Debian's libpng-dev (pkg-config libpng). Only the simplified write API (png_image_write_to_memory) is used:
// it reports failure through its return value and png_image.message, so no setjmp/longjmp crosses Swift frames.
#include <png.h>
#endif
