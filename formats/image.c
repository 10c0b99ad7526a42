/* image.c - colour maps and the PNG writer (see image.h). */
#include "image.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIDE 1000000 /* libpng's default user limit on width and height */

int presto_colormap_parse(const char *name, presto_colormap *map)
{
	if (!strcmp(name, "viridis"))
		*map = PRESTO_COLORMAP_VIRIDIS;
	else if (!strcmp(name, "gray"))
		*map = PRESTO_COLORMAP_GRAY;
	else
		return -1;
	return 0;
}

void presto_colormap_rgb(presto_colormap map, double t, uint8_t rgb[3])
{
	static const double viridis[5][3] = {
		{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37},
	};
	if (isnan(t)) {
		rgb[0] = 255, rgb[1] = 0, rgb[2] = 0;
		return;
	}
	t = t < 0 ? 0 : t > 1 ? 1 : t;
	if (map == PRESTO_COLORMAP_GRAY) {
		rgb[0] = rgb[1] = rgb[2] = (uint8_t)lround(255 * t);
		return;
	}
	double x = t * 4;
	int i = x >= 4 ? 3 : (int)x;
	double f = x - i;
	for (int c = 0; c < 3; c++)
		rgb[c] = (uint8_t)lround(viridis[i][c] + f * (viridis[i + 1][c] - viridis[i][c]));
}

typedef struct {
	char msg[256];
} png_err;

static void on_png_error(png_structp png, png_const_charp msg)
{
	png_err *e = png_get_error_ptr(png);
	if (e)
		snprintf(e->msg, sizeof e->msg, "%s", msg);
	png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

presto_status presto_png_write_rgb(FILE *f, const char *label, int64_t W, int64_t H, presto_image_row_fn row,
				   void *ctx)
{
	if (W < 1 || H < 1 || W > MAX_SIDE || H > MAX_SIDE)
		return presto_error_set(PRESTO_EINVAL, "%s: a %lldx%lld image is outside PNG's 1 to %d pixels a side",
					label, (long long)W, (long long)H, MAX_SIDE);
	png_err err = {{0}};
	uint8_t *volatile buf = presto_malloc((size_t)W * 3);
	if (!buf)
		return PRESTO_ENOMEM;
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error, on_png_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!png || !info) {
		png_destroy_write_struct(&png, &info);
		free(buf);
		return presto_error_set(PRESTO_ENOMEM, "%s: out of memory for the PNG encoder", label);
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(buf);
		return presto_error_set(PRESTO_EIO, "%s: cannot write PNG: %s", label,
					err.msg[0] ? err.msg : "libpng failed");
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int64_t y = 0; y < H; y++) {
		row(ctx, y, buf);
		png_write_row(png, buf);
	}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	free(buf);
	return PRESTO_OK;
}
