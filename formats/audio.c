/* audio.c - audio file I/O through libsndfile: planar fp32 in and out,
 * container by extension, atomic writes (render in memory, temp file,
 * rename). */
#include "audio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_FRAMES 16384
#define MAX_CHANNELS 1024
#define MAX_RATE 1536000

/* ---- containers ---- */

typedef struct {
	const char *ext;
	int major;      /* SF_FORMAT_* container (with the codec for lossy ones) */
	int lossy;      /* subtype ignored */
	int has_float;
} container;

static const container containers[] = {
	{"wav", SF_FORMAT_WAV, 0, 1},
	{"flac", SF_FORMAT_FLAC, 0, 0},
	{"aiff", SF_FORMAT_AIFF, 0, 1},
	{"aif", SF_FORMAT_AIFF, 0, 1},
	{"ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 1, 0},
	/* SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III (libsndfile >= 1.1, an enum,
	 * so spelled as numbers; sf_format_check tells at run time) */
	{"mp3", 0x230000 | 0x0082, 1, 0},
};

static const char *path_ext(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	const char *dot = strrchr(base, '.');
	return dot && dot != base ? dot + 1 : NULL;
}

static const container *find_container(const char *ext)
{
	if (!ext)
		return NULL;
	for (size_t i = 0; i < sizeof containers / sizeof containers[0]; i++)
		if (!strcasecmp(ext, containers[i].ext))
			return &containers[i];
	return NULL;
}

presto_status presto_audio_subtype_parse(const char *s, int *subtype)
{
	if (!strcmp(s, "16"))
		*subtype = PRESTO_AUDIO_PCM16;
	else if (!strcmp(s, "24"))
		*subtype = PRESTO_AUDIO_PCM24;
	else if (!strcasecmp(s, "float") || !strcasecmp(s, "f32") || !strcasecmp(s, "32f") || !strcmp(s, "32"))
		*subtype = PRESTO_AUDIO_FLOAT;
	else
		return presto_error_set(PRESTO_EINVAL, "unknown sample format '%s' (16, 24 or float)", s);
	return PRESTO_OK;
}

/* SF_INFO.format for a container + subtype, or an error naming `what`. */
static presto_status sf_format_for(const container *ct, int subtype, const char *what, int *format)
{
	if (subtype < PRESTO_AUDIO_PCM16 || subtype > PRESTO_AUDIO_FLOAT)
		return presto_error_set(PRESTO_EINVAL, "%s: invalid sample format %d", what, subtype);
	if (ct->lossy) {
		*format = ct->major;
	} else if (subtype == PRESTO_AUDIO_FLOAT) {
		if (!ct->has_float)
			return presto_error_set(PRESTO_EUNSUP, "%s: .%s cannot hold float samples (use 16 or 24 bits)",
						what, ct->ext);
		*format = ct->major | SF_FORMAT_FLOAT;
	} else {
		*format = ct->major | (subtype == PRESTO_AUDIO_PCM24 ? SF_FORMAT_PCM_24 : SF_FORMAT_PCM_16);
	}
	SF_INFO probe = {.samplerate = 48000, .channels = 2, .format = *format};
	if (!sf_format_check(&probe))
		return presto_error_set(PRESTO_EUNSUP, "%s: this libsndfile cannot write .%s", what, ct->ext);
	return PRESTO_OK;
}

static presto_status output_container(const char *path, const container **ct)
{
	if (!strcmp(path, "-")) {
		*ct = &containers[0];
		return PRESTO_OK;
	}
	const char *ext = path_ext(path);
	*ct = find_container(ext);
	if (!*ct)
		return presto_error_set(PRESTO_EUNSUP,
					"%s: unsupported audio file extension%s%s (use .wav, .flac, .aiff, .ogg or "
					".mp3)", path, ext ? " ." : "", ext ? ext : "");
	return PRESTO_OK;
}

/* ---- in-memory file for libsndfile's virtual I/O ---- */

typedef struct {
	unsigned char *p;
	sf_count_t len, cap, pos;
	int oom;
} membuf;

static sf_count_t vio_len(void *u) { return ((membuf *)u)->len; }
static sf_count_t vio_tell(void *u) { return ((membuf *)u)->pos; }

static sf_count_t vio_seek(sf_count_t off, int whence, void *u)
{
	membuf *m = u;
	sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
	if (off < -base || off > INT64_MAX - base)
		return -1;
	m->pos = base + off;
	return m->pos;
}

static sf_count_t vio_read(void *ptr, sf_count_t n, void *u)
{
	membuf *m = u;
	sf_count_t avail = m->pos < m->len ? m->len - m->pos : 0;
	if (n > avail)
		n = avail;
	if (n > 0)
		memcpy(ptr, m->p + m->pos, (size_t)n);
	m->pos += n > 0 ? n : 0;
	return n > 0 ? n : 0;
}

static sf_count_t vio_write(const void *ptr, sf_count_t n, void *u)
{
	membuf *m = u;
	if (n <= 0)
		return 0;
	if (m->pos > INT64_MAX - n || (uint64_t)(m->pos + n) > SIZE_MAX / 2) {
		m->oom = 1;
		return 0;
	}
	sf_count_t end = m->pos + n;
	if (end > m->cap) {
		sf_count_t cap = m->cap ? m->cap : 65536;
		while (cap < end)
			cap *= 2;
		unsigned char *p = realloc(m->p, (size_t)cap);
		if (!p) {
			m->oom = 1;
			return 0;
		}
		m->p = p;
		m->cap = cap;
	}
	if (m->pos > m->len)
		memset(m->p + m->len, 0, (size_t)(m->pos - m->len));
	memcpy(m->p + m->pos, ptr, (size_t)n);
	m->pos = end;
	if (end > m->len)
		m->len = end;
	return n;
}

static SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};

/* ---- plain descriptor helpers ---- */

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Whole contents of fd into m (for pipes and stdin). */
static int slurp(int fd, membuf *m)
{
	unsigned char buf[65536];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		if (vio_write(buf, r, m) != r) {
			errno = ENOMEM;
			return -1;
		}
	}
}

/* ---- reading ---- */

static presto_status read_sf(SNDFILE *sf, const SF_INFO *info, const char *what, float **data, int64_t *frames)
{
	int C = info->channels;
	int64_t cap = info->frames > 0 && info->frames < ((int64_t)1 << 40) ? info->frames : CHUNK_FRAMES, n = 0;
	float *il = presto_falloc((size_t)CHUNK_FRAMES * (size_t)C), *out = NULL;
	size_t bytes;
	if (!il)
		return PRESTO_ENOMEM;
	if (!presto_mul_size((size_t)cap, (size_t)C, &bytes) || !(out = presto_falloc(bytes))) {
		free(il);
		return PRESTO_ENOMEM;
	}
	presto_status s = PRESTO_OK;
	for (;;) {
		sf_count_t got = sf_readf_float(sf, il, CHUNK_FRAMES);
		if (got <= 0)
			break;
		if (n + got > cap) {
			/* grow: rows keep their stride = capacity */
			int64_t ncap = cap;
			while (ncap < n + got)
				ncap *= 2;
			float *bigger = NULL;
			if (!presto_mul_size((size_t)ncap, (size_t)C, &bytes) || !(bigger = presto_falloc(bytes))) {
				s = PRESTO_ENOMEM;
				break;
			}
			for (int c = 0; c < C; c++)
				memcpy(bigger + (size_t)c * (size_t)ncap, out + (size_t)c * (size_t)cap,
				       sizeof(float) * (size_t)n);
			free(out);
			out = bigger;
			cap = ncap;
		}
		for (sf_count_t t = 0; t < got; t++)
			for (int c = 0; c < C; c++) {
				float v = il[(size_t)t * (size_t)C + (size_t)c];
				if (!isfinite(v)) {
					s = presto_error_set(PRESTO_EINVAL, "%s: sample %lld of channel %d is not "
							     "finite", what, (long long)(n + t), c);
					goto out;
				}
				out[(size_t)c * (size_t)cap + (size_t)(n + t)] = v;
			}
		n += got;
	}
	if (!s && sf_error(sf))
		s = presto_error_set(PRESTO_EINVAL, "%s: corrupt audio data (%s)", what, sf_strerror(sf));
	if (!s && n == 0)
		s = presto_error_set(PRESTO_EINVAL, "%s: no audio frames", what);
out:
	free(il);
	if (s) {
		free(out);
		return s;
	}
	/* compact rows to stride n (rows only move down, in order) */
	for (int c = 1; c < C && cap != n; c++)
		memmove(out + (size_t)c * (size_t)n, out + (size_t)c * (size_t)cap, sizeof(float) * (size_t)n);
	*data = out;
	*frames = n;
	return PRESTO_OK;
}

presto_status presto_audio_read(const char *path, float **data, int *channels, int64_t *frames, int *sample_rate)
{
	*data = NULL;
	membuf m = {0};
	SF_INFO info = {0};
	SNDFILE *sf = NULL;
	int is_stdin = !strcmp(path, "-");
	const char *what = is_stdin ? "standard input" : path;
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return presto_error_set(PRESTO_EIO, "cannot open '%s': %s", path, strerror(errno));
	struct stat st;
	int fst = fstat(fd, &st);
	if (fst < 0 || S_ISDIR(st.st_mode)) {
		int e = fst < 0 ? errno : EISDIR;
		if (!is_stdin)
			close(fd);
		return presto_error_set(PRESTO_EIO, "cannot read '%s': %s", what, strerror(e));
	}
	if (S_ISREG(st.st_mode)) {
		/* libsndfile does not close fd (also not on failure); we do */
		sf = sf_open_fd(fd, SFM_READ, &info, SF_FALSE);
	} else {
		/* pipe or device: libsndfile wants to seek, so read it all first */
		int r = slurp(fd, &m);
		int e = errno;
		if (!is_stdin)
			close(fd);
		fd = -1;
		if (r < 0) {
			free(m.p);
			return presto_error_set(e == ENOMEM ? PRESTO_ENOMEM : PRESTO_EIO, "cannot read '%s': %s", what,
						strerror(e));
		}
		m.pos = 0;
		sf = sf_open_virtual(&vio, SFM_READ, &info, &m);
	}
	if (!sf) {
		free(m.p);
		if (fd >= 0 && !is_stdin)
			close(fd);
		return presto_error_set(PRESTO_EINVAL, "%s: not a readable audio file (%s)", what, sf_strerror(NULL));
	}
	presto_status s = PRESTO_OK;
	if (info.channels < 1 || info.channels > MAX_CHANNELS || info.samplerate < 1 || info.samplerate > MAX_RATE)
		s = presto_error_set(PRESTO_EINVAL, "%s: unsupported layout (%d channels, %d Hz)", what, info.channels,
				     info.samplerate);
	else
		s = read_sf(sf, &info, what, data, frames);
	sf_close(sf);
	free(m.p);
	if (fd >= 0 && !is_stdin)
		close(fd);
	if (s)
		return s;
	*channels = info.channels;
	*sample_rate = info.samplerate;
	return PRESTO_OK;
}

/* ---- writing ---- */

static presto_status check_args(const char *what, const float *data, int C, int64_t N, int rate)
{
	if (C < 1 || C > MAX_CHANNELS)
		return presto_error_set(PRESTO_EINVAL, "%s: %d channels (1 to %d supported)", what, C, MAX_CHANNELS);
	if (rate < 1 || rate > MAX_RATE)
		return presto_error_set(PRESTO_EINVAL, "%s: invalid sample rate %d", what, rate);
	size_t n;
	if (N < 0 || !presto_mul_size((size_t)N, (size_t)C, &n) || (N > 0 && !data))
		return presto_error_set(PRESTO_EINVAL, "%s: invalid frame count %lld", what, (long long)N);
	for (size_t i = 0; i < n; i++)
		if (!isfinite(data[i]))
			return presto_error_set(PRESTO_EINVAL, "%s: sample %zu of channel %zu is not finite", what,
						i % (size_t)N, i / (size_t)N);
	return PRESTO_OK;
}

/* Encode into memory (m->p, m->len). */
static presto_status render(membuf *m, const char *what, int format, const float *data, int C, int64_t N,
			    int rate)
{
	SF_INFO info = {.samplerate = rate, .channels = C, .format = format};
	SNDFILE *sf = sf_open_virtual(&vio, SFM_WRITE, &info, m);
	if (!sf)
		return presto_error_set(m->oom ? PRESTO_ENOMEM : PRESTO_EUNSUP,
					"%s: cannot encode %d channels at %d Hz (%s)", what, C, rate,
					sf_strerror(NULL));
	sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
	/* no PEAK chunk: it holds a timestamp, and the same audio must give the same bytes */
	sf_command(sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
	float *il = presto_falloc((size_t)CHUNK_FRAMES * (size_t)C);
	presto_status s = il ? PRESTO_OK : PRESTO_ENOMEM;
	for (int64_t t0 = 0; !s && t0 < N; t0 += CHUNK_FRAMES) {
		int64_t n = N - t0 < CHUNK_FRAMES ? N - t0 : CHUNK_FRAMES;
		for (int64_t t = 0; t < n; t++)
			for (int c = 0; c < C; c++)
				il[(size_t)t * (size_t)C + (size_t)c] = data[(size_t)c * (size_t)N + (size_t)(t0 + t)];
		if (sf_writef_float(sf, il, n) != n)
			s = presto_error_set(m->oom ? PRESTO_ENOMEM : PRESTO_EIO, "%s: encoding failed (%s)", what,
					     m->oom ? "out of memory" : sf_strerror(sf));
	}
	free(il);
	if (sf_close(sf) && !s)
		s = presto_error_set(PRESTO_EIO, "%s: encoding failed", what);
	if (!s && m->oom)
		s = presto_error_set(PRESTO_ENOMEM, "%s: out of memory while encoding", what);
	return s;
}

static presto_status encode(const char *what, const container *ct, const float *data, int C, int64_t N, int rate,
			    int subtype, membuf *m)
{
	int format;
	PRESTO_TRY(check_args(what, data, C, N, rate));
	PRESTO_TRY(sf_format_for(ct, subtype, what, &format));
	presto_status s = render(m, what, format, data, C, N, rate);
	if (s) {
		free(m->p);
		m->p = NULL;
	}
	return s;
}

presto_status presto_audio_write_fd(int fd, const char *container_ext, const float *data, int channels, int64_t frames,
				    int sample_rate, int subtype)
{
	const container *ct = container_ext ? find_container(container_ext) : &containers[0];
	if (!ct)
		return presto_error_set(PRESTO_EUNSUP, "unsupported audio container '%s'", container_ext);
	membuf m = {0};
	PRESTO_TRY(encode("audio output", ct, data, channels, frames, sample_rate, subtype, &m));
	presto_status s = PRESTO_OK;
	if (write_all(fd, m.p, (size_t)m.len) < 0)
		s = presto_error_set(PRESTO_EIO, "writing audio: %s", strerror(errno));
	free(m.p);
	return s;
}

/* Directory part of path into buf ("." when there is none). */
static presto_status dir_of(const char *path, char *buf, size_t n)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 1;
	if (slash && len == 0)
		len = 1; /* "/file" */
	if (len + 1 > n)
		return presto_error_set(PRESTO_EINVAL, "%s: path too long", path);
	memcpy(buf, slash ? path : ".", len);
	buf[len] = 0;
	return PRESTO_OK;
}

/* Write bytes to a temp file next to path, then rename it over path. */
static presto_status commit_file(const char *path, const membuf *m)
{
	static int counter;
	char dir[PATH_MAX], tmp[PATH_MAX + 64];
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	PRESTO_TRY(dir_of(path, dir, sizeof dir));
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 100; tries++) {
		int k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
		if ((size_t)snprintf(tmp, sizeof tmp, "%s/.%s.%ld.%d.tmp", dir, base, (long)getpid(), k) >= sizeof tmp)
			return presto_error_set(PRESTO_EINVAL, "%s: path too long", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST)
			return presto_error_set(PRESTO_EIO, "cannot create '%s': %s", path, strerror(errno));
	}
	if (fd < 0)
		return presto_error_set(PRESTO_EIO, "cannot create a temporary file for '%s'", path);
	int err = 0;
	if (write_all(fd, m->p, (size_t)m->len) < 0 || fsync(fd) < 0)
		err = errno;
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) < 0)
		err = errno;
	if (err) {
		unlink(tmp);
		return presto_error_set(PRESTO_EIO, "cannot write '%s': %s", path, strerror(err));
	}
	return PRESTO_OK;
}

presto_status presto_audio_write(const char *path, const float *data, int channels, int64_t frames, int sample_rate,
				 int subtype)
{
	const container *ct;
	PRESTO_TRY(output_container(path, &ct));
	if (!strcmp(path, "-"))
		return presto_audio_write_fd(STDOUT_FILENO, ct->ext, data, channels, frames, sample_rate, subtype);
	membuf m = {0};
	PRESTO_TRY(encode(path, ct, data, channels, frames, sample_rate, subtype, &m));
	presto_status s;
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		/* a device or FIFO (/dev/null, a named pipe): write in place */
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		s = PRESTO_OK;
		if (fd < 0 || write_all(fd, m.p, (size_t)m.len) < 0)
			s = presto_error_set(PRESTO_EIO, "cannot write '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else {
		s = commit_file(path, &m);
	}
	free(m.p);
	return s;
}

presto_status presto_audio_check_output(const char *path, int subtype)
{
	const container *ct;
	int format;
	PRESTO_TRY(output_container(path, &ct));
	PRESTO_TRY(sf_format_for(ct, subtype, path, &format));
	if (!strcmp(path, "-"))
		return PRESTO_OK;
	struct stat st;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return presto_error_set(PRESTO_EIO, "cannot write '%s': %s", path, strerror(EISDIR));
		if (!S_ISREG(st.st_mode))
			return access(path, W_OK) == 0 ? PRESTO_OK
							: presto_error_set(PRESTO_EIO, "cannot write '%s': %s", path,
									   strerror(errno));
	}
	char dir[PATH_MAX];
	PRESTO_TRY(dir_of(path, dir, sizeof dir));
	if (stat(dir, &st) < 0)
		return presto_error_set(PRESTO_EIO, "cannot write '%s': %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return presto_error_set(PRESTO_EIO, "cannot write '%s': %s", path, strerror(ENOTDIR));
	if (access(dir, W_OK | X_OK) < 0)
		return presto_error_set(PRESTO_EIO, "cannot write '%s': %s", path, strerror(errno));
	return PRESTO_OK;
}
