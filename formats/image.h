/* image.h - the pictures presto's tools draw (presto-info --png, presto-eval):
 * colour maps from [0, 1] to RGB and a row-by-row 8-bit RGB PNG writer
 * (libpng). Rows are produced on demand, so an image never has to fit in
 * memory. (Not png.h: that name belongs to libpng.) */
#ifndef PRESTO_IMAGE_H
#define PRESTO_IMAGE_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef enum {
	PRESTO_COLORMAP_VIRIDIS = 0, /* dark blue-purple (0) to yellow (1), perceptually ordered */
	PRESTO_COLORMAP_GRAY = 1,    /* black (0) to white (1) */
} presto_colormap;

/* "viridis" or "gray"; 0 ok, -1 unknown. */
int presto_colormap_parse(const char *name, presto_colormap *map);

/* The colour of t: t is clamped to [0, 1]; NaN is pure red (255, 0, 0), the
 * mark of a non-finite value. Viridis is interpolated linearly between five
 * stops of matplotlib's map. */
void presto_colormap_rgb(presto_colormap map, double t, uint8_t rgb[3]);

/* Fills rgb (3 * W bytes: R, G, B per pixel, left to right) with image row
 * y (0 = top). */
typedef void (*presto_image_row_fn)(void *ctx, int64_t y, uint8_t *rgb);

/* Encode a W x H 8-bit RGB PNG into f (not closed, not flushed), asking
 * row() for each row from the top. label names the output in messages.
 * EINVAL for a size outside 1 .. 1000000 in either direction, ENOMEM, EIO
 * when libpng fails (its message is kept). Write errors of f itself show in
 * ferror(f) / at the caller's flush (presto_output_commit checks them). */
presto_status presto_png_write_rgb(FILE *f, const char *label, int64_t W, int64_t H, presto_image_row_fn row,
				   void *ctx);

#endif
