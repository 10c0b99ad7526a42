/* fixture.h - the conformance harness: one fixture = <name>.json + <name>.safetensors
 * produced by the reference implementation; a handler runs our code on the
 * in.* tensors and checks out.* / inter.* with fx_check(). */
#ifndef PRESTO_FIXTURE_H
#define PRESTO_FIXTURE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"

typedef struct fixture {
	const char *dir;
	const char *name;
	json_t *json;       /* <name>.json */
	presto_st *st;      /* <name>.safetensors */
	double tol;         /* max |ours - ref| / max |ref| allowed; handler sets it */
	double worst;       /* worst relative error seen */
	char worst_name[160];
	int checked, failed;
	int verbose;
	void *cache;        /* converted reference tensors (freed by the harness) */
} fixture;

/* Reference tensor `name` as fp32 (any float or integer dtype is converted);
 * shape into shape[]/ndim (may be NULL). NULL and a message if missing. */
const float *fx_ref(fixture *fx, const char *name, int64_t *shape, int *ndim);
/* Same, from another safetensors file (e.g. a sampler fixture's model file). */
const float *fx_ref_in(fixture *fx, presto_st *st, const char *name, int64_t *shape, int *ndim);
/* Number of elements of a reference tensor, 0 if missing. */
size_t fx_numel(fixture *fx, const char *name);
/* Compare got[0..n) with reference `name` using fx->tol. Records the worst
 * error, marks the fixture failed (with a line on stderr) when over
 * tolerance or when the reference is missing or has another size. */
double fx_check(fixture *fx, const char *name, const float *got, size_t n);
/* Same with an explicit tolerance. */
double fx_check_tol(fixture *fx, const char *name, const float *got, size_t n, double tol);
/* Mark the fixture failed with a message (printf-style). */
void fx_fail(fixture *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Open a sibling safetensors file of the fixture folder (closed by the harness). */
presto_st *fx_open_sibling(fixture *fx, const char *file);

/* --device cuda[:N] of the runner: the models also run on that GPU (fp32,
 * the parity path) and their final outputs are checked against the same
 * references. NULL: the CPU alone. */
struct presto_accel;
struct presto_dit;
struct presto_vae;
struct presto_t5;
extern const struct presto_device_req *fx_device;
/* Put a model on fx_device: NULL when no device was asked for, or on
 * failure (the fixture then fails with the reason). */
struct presto_accel *fx_gpu_dit(fixture *fx, struct presto_dit *m);
struct presto_accel *fx_gpu_vae(fixture *fx, struct presto_vae *m);
struct presto_accel *fx_gpu_t5(fixture *fx, struct presto_t5 *m);

/* Handlers: return 0 when the fixture ran (pass/fail is in fx), 1 to skip
 * (with a reason in *skip_reason). */
typedef int (*fx_handler)(fixture *fx, const char **skip_reason);
int conf_dit(fixture *fx, const char **skip_reason);
int conf_sampler(fixture *fx, const char **skip_reason);
int conf_t5(fixture *fx, const char **skip_reason);
int conf_oobleck(fixture *fx, const char **skip_reason);
int conf_number_cond(fixture *fx, const char **skip_reason);
int conf_grad_dit(fixture *fx, const char **skip_reason);
int conf_grad_oobleck(fixture *fx, const char **skip_reason);

#endif
