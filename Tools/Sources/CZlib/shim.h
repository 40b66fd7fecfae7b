/* zlib's gzip file API, for compressing rotated output files. */
#include <zlib.h>
