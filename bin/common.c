/* common.c - shared CLI helpers of the presto tools (see common.h). */
#include "common.h"

#include "accel.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *progname = "presto";

const char *presto_progname(void) { return progname; }

/* ---- temp files removed on fatal signals ---- */

#define MAX_TEMPS 16
static char *volatile temps[MAX_TEMPS];

static void on_signal(int sig)
{
	for (int i = 0; i < MAX_TEMPS; i++)
		if (temps[i])
			unlink(temps[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void temp_register(char *path)
{
	for (int i = 0; i < MAX_TEMPS; i++)
		if (!temps[i]) {
			temps[i] = path;
			return;
		}
}

static void temp_unregister(const char *path)
{
	for (int i = 0; i < MAX_TEMPS; i++)
		if (temps[i] == path)
			temps[i] = NULL;
}

/* ---- messages ---- */

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s", progname, prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void presto_cli_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void presto_cli_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

int presto_cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
	return PRESTO_EXIT_RUNTIME;
}

int presto_cli_status(presto_status st)
{
	if (st == PRESTO_OK)
		return PRESTO_EXIT_OK;
	return presto_cli_error("%s", presto_error());
}

int presto_cli_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", progname);
	return PRESTO_EXIT_USAGE;
}

/* ---- options ---- */

enum { KEY_HELP = 'h', KEY_VERSION = 'V' };

typedef struct {
	struct option *longopts;
	char *shortopts;
} cli_tables;

void presto_cli_init(presto_cli *cli, const presto_cli_spec *spec, int argc, char **argv)
{
	memset(cli, 0, sizeof *cli);
	cli->spec = spec;
	cli->argc = argc;
	cli->argv = argv;
	cli->optind = 1;
	progname = spec->prog;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
}

static int build_tables(presto_cli *cli)
{
	int n = 0;
	while (cli->spec->opts && cli->spec->opts[n].name)
		n++;
	cli_tables *t = calloc(1, sizeof *t);
	if (!t)
		return -1;
	t->longopts = calloc((size_t)n + 3, sizeof *t->longopts);
	t->shortopts = calloc(2 * (size_t)n + 8, 1);
	if (!t->longopts || !t->shortopts) {
		free(t->longopts);
		free(t->shortopts);
		free(t);
		return -1;
	}
	char *s = t->shortopts;
	*s++ = ':'; /* report a missing argument as ':' */
	*s++ = 'h';
	*s++ = 'V';
	for (int i = 0; i < n; i++) {
		const presto_cli_option *o = &cli->spec->opts[i];
		t->longopts[i] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, o->key};
		if (o->key > 0 && o->key < 128) {
			*s++ = (char)o->key;
			if (o->arg)
				*s++ = ':';
		}
	}
	t->longopts[n] = (struct option){"help", no_argument, NULL, KEY_HELP};
	t->longopts[n + 1] = (struct option){"version", no_argument, NULL, KEY_VERSION};
	cli->priv = t;
	optind = 1;
	opterr = 0;
	return 0;
}

static void free_tables(presto_cli *cli)
{
	cli_tables *t = cli->priv;
	if (t) {
		free(t->longopts);
		free(t->shortopts);
		free(t);
	}
	cli->priv = NULL;
}

void presto_cli_help(const presto_cli_spec *spec, FILE *f)
{
	fprintf(f, "Usage: %s %s\n%s\n\nOptions:\n", spec->prog, spec->usage, spec->summary);
	for (const presto_cli_option *o = spec->opts; o && o->name; o++) {
		char left[80];
		int k = o->key > 0 && o->key < 128;
		snprintf(left, sizeof left, "%c%c%c --%s%s%s", k ? '-' : ' ', k ? o->key : ' ', k ? ',' : ' ', o->name,
			 o->arg ? "=" : "", o->arg ? o->arg : "");
		if (strlen(left) > 26)
			fprintf(f, "  %s\n  %-26s  %s\n", left, "", o->help);
		else
			fprintf(f, "  %-26s  %s\n", left, o->help);
	}
	fprintf(f, "  %-26s  %s\n", "-h, --help", "print this help and exit");
	fprintf(f, "  %-26s  %s\n", "-V, --version", "print the version and exit");
	if (spec->footer)
		fprintf(f, "\n%s", spec->footer);
}

int presto_cli_next(presto_cli *cli, const char **arg)
{
	if (!cli->priv && build_tables(cli)) {
		cli->exit_code = presto_cli_error("out of memory");
		return PRESTO_CLI_EXIT;
	}
	cli_tables *t = cli->priv;
	int c = getopt_long(cli->argc, cli->argv, t->shortopts, t->longopts, NULL);
	*arg = optarg;
	switch (c) {
	case -1:
		cli->optind = optind;
		free_tables(cli);
		return PRESTO_CLI_END;
	case KEY_HELP:
		presto_cli_help(cli->spec, stdout);
		cli->exit_code = fflush(stdout) ? PRESTO_EXIT_RUNTIME : PRESTO_EXIT_OK;
		free_tables(cli);
		return PRESTO_CLI_EXIT;
	case KEY_VERSION:
		printf("%s %s\n", cli->spec->prog, PRESTO_VERSION);
		cli->exit_code = fflush(stdout) ? PRESTO_EXIT_RUNTIME : PRESTO_EXIT_OK;
		free_tables(cli);
		return PRESTO_CLI_EXIT;
	case ':':
	case '?': {
		/* Name the option as the user wrote it: the long form (without
		 * "=value") when the argument was a long option, else -x. */
		const char *prev = optind > 0 && optind <= cli->argc ? cli->argv[optind - 1] : "";
		char bad[64];
		int is_long = prev[0] == '-' && prev[1] == '-';
		if (is_long && optopt > 0 && optopt < 128) { /* a long option with a short key? */
			const char *eq = strchr(prev + 2, '=');
			size_t n = eq ? (size_t)(eq - prev - 2) : strlen(prev + 2);
			is_long = 0;
			for (const struct option *lo = t->longopts; lo->name; lo++)
				if (lo->val == optopt && strlen(lo->name) == n && !strncmp(lo->name, prev + 2, n))
					is_long = 1;
		}
		if (is_long || !optopt)
			snprintf(bad, sizeof bad, "%.*s", (int)strcspn(prev, "="), prev);
		else
			snprintf(bad, sizeof bad, "-%c", optopt);
		cli->exit_code = c == ':' ? presto_cli_usage("option '%s' needs an argument", bad)
					  : presto_cli_usage("unknown option '%s'", bad);
		free_tables(cli);
		return PRESTO_CLI_EXIT;
	}
	default:
		return c;
	}
}

int presto_cli_int(const char *opt, const char *s, long long min, long long max, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno == ERANGE) {
		presto_cli_usage("%s: '%s' is not an integer", opt, s);
		return 0;
	}
	if (v < min || v > max) {
		presto_cli_usage("%s: %lld is out of range [%lld, %lld]", opt, v, min, max);
		return 0;
	}
	*out = v;
	return 1;
}

int presto_cli_double(const char *opt, const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno == ERANGE || isnan(v)) {
		presto_cli_usage("%s: '%s' is not a number", opt, s);
		return 0;
	}
	if (v < min || v > max) {
		presto_cli_usage("%s: %g is out of range [%g, %g]", opt, v, min, max);
		return 0;
	}
	*out = v;
	return 1;
}

/* ---- files ---- */

presto_status presto_input_open(const char *path, FILE **f, const char **label)
{
	if (!path || !strcmp(path, "-")) {
		*f = stdin;
		if (label)
			*label = "stdin";
		return PRESTO_OK;
	}
	FILE *g = fopen(path, "rb");
	if (!g)
		return presto_error_set(PRESTO_EIO, "cannot open '%s': %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fileno(g), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fclose(g);
		return presto_error_set(PRESTO_EIO, "cannot read '%s': it is a directory", path);
	}
	*f = g;
	if (label)
		*label = path;
	return PRESTO_OK;
}

void presto_input_close(FILE *f)
{
	if (f && f != stdin)
		fclose(f);
}

presto_status presto_output_open(presto_output *o, const char *path, int binary)
{
	memset(o, 0, sizeof *o);
	if (!path || !strcmp(path, "-")) {
		if (binary && isatty(STDOUT_FILENO))
			return presto_error_set(PRESTO_EINVAL,
						"refusing to write binary data to a terminal (redirect stdout or use -o FILE)");
		o->f = stdout;
		o->label = "stdout";
		return PRESTO_OK;
	}
	struct stat sb;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return presto_error_set(PRESTO_EIO, "cannot write '%s': it is a directory", path);
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0, n = strlen(path) + 16;
	o->path = strdup(path);
	o->tmp = malloc(n);
	if (!o->path || !o->tmp) {
		presto_output_abort(o);
		return presto_error_set(PRESTO_ENOMEM, "out of memory");
	}
	snprintf(o->tmp, n, "%.*s.%s.XXXXXX", (int)dirlen, path, path + dirlen);
	int fd = mkstemp(o->tmp);
	if (fd < 0) {
		presto_status st = presto_error_set(PRESTO_EIO, "cannot write '%s': %s", path, strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		presto_output_abort(o);
		return st;
	}
	temp_register(o->tmp);
	mode_t mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask);
	o->f = fdopen(fd, "wb");
	if (!o->f) {
		close(fd);
		presto_status st = presto_error_set(PRESTO_EIO, "cannot write '%s': %s", path, strerror(errno));
		presto_output_abort(o);
		return st;
	}
	o->label = o->path;
	return PRESTO_OK;
}

presto_status presto_output_commit(presto_output *o)
{
	if (!o->f)
		return presto_error_set(PRESTO_EIO, "output already closed");
	if (!o->path) {
		int bad = fflush(o->f) != 0 || ferror(o->f);
		o->f = NULL;
		if (bad)
			return presto_error_set(PRESTO_EIO, "write error on stdout: %s", strerror(errno));
		return PRESTO_OK;
	}
	errno = 0;
	int bad = fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0;
	int err = errno;
	if (fclose(o->f) != 0 && !bad)
		bad = 1, err = errno;
	o->f = NULL;
	if (!bad && rename(o->tmp, o->path) != 0)
		bad = 1, err = errno;
	if (bad) {
		presto_status st = presto_error_set(PRESTO_EIO, "cannot write '%s': %s", o->path,
						    strerror(err ? err : EIO));
		presto_output_abort(o);
		return st;
	}
	temp_unregister(o->tmp);
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
	return PRESTO_OK;
}

void presto_output_abort(presto_output *o)
{
	if (o->f && !o->path)
		fflush(o->f);
	else if (o->f)
		fclose(o->f);
	o->f = NULL;
	if (o->tmp) {
		unlink(o->tmp);
		temp_unregister(o->tmp);
		free(o->tmp);
	}
	free(o->path);
	o->tmp = o->path = NULL;
}

/* ---- progress ---- */

int presto_cli_progress_enabled(void)
{
	const char *q = getenv("PRESTO_QUIET");
	return isatty(STDERR_FILENO) && !(q && *q);
}

void presto_cli_progress(const char *what, long done, long total)
{
	if (!presto_cli_progress_enabled())
		return;
	fprintf(stderr, "\r%s: %s %ld/%ld\033[K", progname, what, done, total);
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
}

int presto_cli_finish_stream(presto_status st, presto_stream_writer *w, presto_output *o)
{
	if (!st && w)
		st = presto_stream_write_end(w);
	if (!st && o)
		st = presto_output_commit(o);
	int rc = st ? presto_cli_status(st) : PRESTO_EXIT_OK;
	if (st && o)
		presto_output_abort(o);
	presto_stream_writer_close(w);
	return rc;
}

int presto_cli_device(const char *dev, const char *precision, presto_device_req *r)
{
	if (!dev)
		dev = getenv("PRESTO_DEVICE");
	presto_precision pr = PRESTO_PRECISION_AUTO;
	if (precision && presto_precision_parse(precision, &pr))
		return presto_cli_usage("--precision: %s", presto_error());
	if (dev && *dev) {
		if (presto_device_parse(dev, r))
			return presto_cli_usage("--device: %s", presto_error());
	} else {
		memset(r, 0, sizeof *r);
		r->kind = PRESTO_DEVICE_AUTO;
	}
	r->precision = pr;
	if (r->kind == PRESTO_DEVICE_CPU && pr == PRESTO_PRECISION_BF16)
		return presto_cli_usage("--precision bf16 runs on a GPU only (the CPU computes in fp32)");
	return 0;
}

void presto_cli_device_note(const char *note)
{
	if (note && note[0])
		presto_cli_msg("note: %s", note);
}
