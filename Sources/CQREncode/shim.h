#ifndef TUITIONGUARD_CQRENCODE_SHIM_H
#define TUITIONGUARD_CQRENCODE_SHIM_H
// Debian's libqrencode-dev (pkg-config libqrencode).
#include <qrencode.h>
#endif
