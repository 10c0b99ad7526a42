/* audio.h - reading and writing audio files (libsndfile).
 *
 * Samples are fp32, planar: data[c * frames + t] for channel c, frame t
 * ([C, N], the layout the VAE takes), full scale +-1. The container comes from
 * the file name's extension (case-insensitive): .wav, .flac, .aif/.aiff,
 * .ogg (Vorbis) and .mp3 where libsndfile was built with it; "-" is standard
 * input / output (WAV when writing). Integer PCM is written from floats with
 * clipping (values beyond +-1 saturate instead of wrapping). Writing a path
 * is atomic: the file is rendered in memory, written to a temporary file in
 * the same directory and renamed over the target, so a failed write leaves
 * nothing behind (an existing device or FIFO is written in place). */
#ifndef PRESTO_AUDIO_H
#define PRESTO_AUDIO_H

#include <stdint.h>

#include "error.h"

/* Sample encoding of lossless containers (ignored by .ogg / .mp3). */
enum {
	PRESTO_AUDIO_PCM16 = 0, /* default */
	PRESTO_AUDIO_PCM24 = 1,
	PRESTO_AUDIO_FLOAT = 2, /* 32-bit float (WAV, AIFF; not FLAC) */
};

/* "16", "24", "float" (also "f32", "32f", "32") -> PRESTO_AUDIO_*. */
presto_status presto_audio_subtype_parse(const char *s, int *subtype);

/* Read a whole file ("-" = standard input). *data is a new planar array
 * [channels, frames] (free() it). Errors: unreadable file (PRESTO_EIO),
 * unknown format, corrupt or non-finite data (PRESTO_EINVAL). */
presto_status presto_audio_read(const char *path, float **data, int *channels, int64_t *frames, int *sample_rate);

/* Write data [channels, frames] to path ("-" = standard output as WAV).
 * Errors: unknown extension or a subtype the container lacks (PRESTO_EUNSUP),
 * non-finite samples or bad sizes (PRESTO_EINVAL), unwritable path
 * (PRESTO_EIO). */
presto_status presto_audio_write(const char *path, const float *data, int channels, int64_t frames, int sample_rate,
				 int subtype);

/* Same to an open descriptor (a pipe is fine; not closed). container is an
 * extension without the dot ("wav", "flac", ...), NULL for WAV. */
presto_status presto_audio_write_fd(int fd, const char *container, const float *data, int channels, int64_t frames,
				    int sample_rate, int subtype);

/* Whether presto_audio_write(path, ..., subtype) can succeed as far as can be
 * told before there is audio: a known extension, a subtype it supports, an
 * existing writable directory. For tools that should fail before a long
 * computation rather than after it. */
presto_status presto_audio_check_output(const char *path, int subtype);

#endif
