/* checkpoint.h - the whole training state in ONE safetensors file, written
 * atomically (presto_st_write: temp file, fsync, rename), so that a run
 * killed at any moment resumes exactly from its last checkpoint: restoring
 * a file into a fresh state and training on gives bit-identical parameters,
 * moments, EMA weights and random draws to the run that never stopped.
 *
 * File contents (version 1):
 *   tensors, all F32, shapes = the table's:
 *     "param.<name>"    every tensor of the table (buffers included)
 *     "adam_m.<name>"   AdamW first moment, trainable tensors only
 *     "adam_v.<name>"   AdamW second moment, trainable tensors only
 *     "ema.<name>"      EMA weights, every tensor (only when the run has EMA)
 *   __metadata__ strings (integers in decimal, reals as "%.17g", which
 *   strtod reads back to the same double):
 *     presto.format = "presto-train-state", presto.version = "1"
 *     presto.n_tensors         tensors in the table
 *     presto.checksum          16 hex digits: a 64-bit hash of every tensor's
 *                              bytes, in the order above (table order within
 *                              each group); catches corrupted data
 *     presto.step              AdamW updates done
 *     presto.adamw.{beta1,beta2,eps,weight_decay}
 *     presto.lr.{kind,lr,warmup_steps,decay_steps,min_lr,inv_gamma,power,exp_warmup}
 *     presto.clip.max_norm
 *     presto.ema.{decay,warmup_power,updates}             (with EMA)
 *     presto.scale.{enabled,scale,growth,backoff,growth_interval,min_scale,
 *                   max_scale,good_steps,skipped}
 *     presto.rng.{seed,counter}
 *     presto.data.{seed,epoch,position}
 *   plus the caller's own string pairs (the run's config JSON, ...): any key
 *   not starting with "presto.".
 *
 * Restore validates everything before it changes anything (a refused file
 * leaves the state as it was): format and version, every metadata value,
 * every tensor present with the table's shape and dtype F32, no tensor the
 * table does not declare (a checkpoint of another model), the checksum. */
#ifndef PRESTO_CHECKPOINT_H
#define PRESTO_CHECKPOINT_H

#include <stdint.h>

#include "optim.h"
#include "params.h"

/* The random-number state of a trainer: lib/rng.h is counter-based, so the
 * state is the seed and a counter of the draws (or steps) consumed; the
 * trainer derives its streams from them. */
typedef struct {
	uint64_t seed;
	uint64_t counter;
} presto_rng_state;

/* Where the data loader stands: the data-order seed, the epoch and the
 * position (records consumed) within it. */
typedef struct {
	uint64_t seed;
	int64_t epoch;
	int64_t position;
} presto_data_cursor;

/* A training state: pointers to the parts the trainer owns (allocated by
 * their init functions before a restore) and the small values. ema may be
 * NULL (no EMA: none is saved, one in the file is ignored on restore);
 * the others are required. */
typedef struct {
	presto_params *ps;           /* table + parameters (ps->data) */
	presto_adamw *opt;           /* moments, step, hyper-parameters */
	presto_lr_schedule *sched;
	presto_ema *ema;             /* or NULL */
	presto_loss_scale *scale;
	double max_grad_norm;        /* clipping threshold (0: none) */
	presto_rng_state rng;
	presto_data_cursor data;
} presto_train_state;

/* Write the state to `path` atomically. meta_kv: n_meta (key, value) string
 * pairs stored as they are (keys must not start with "presto."). */
presto_status presto_checkpoint_save(const char *path, const presto_train_state *s, int n_meta,
				     const char *const *meta_kv);
/* Restore a state saved by presto_checkpoint_save into s (same table, all
 * buffers allocated). Hyper-parameters, schedule, clipping, EMA settings and
 * loss-scale state are restored too: a trainer that means to change them sets
 * them after the restore. On error s is unchanged. */
presto_status presto_checkpoint_load(const char *path, presto_train_state *s);
/* A copy (malloc'd) of the metadata string `key` of a checkpoint (the run's
 * config, ...). EINVAL when the file has no such key. */
presto_status presto_checkpoint_meta(const char *path, const char *key, char **value);

/* ---- Rotation in a directory.
 *
 * presto_checkpoint_save_rotating writes dir/step-%06lld.safetensors (the
 * step = s->opt->step, wider when it needs more digits), fsyncs dir, then
 * replaces dir/latest atomically (a text file holding that file name and a
 * newline: written to a temp file, fsynced, renamed over latest, dir fsynced),
 * and only then deletes the oldest step-*.safetensors so that `keep` remain
 * (the one just written always stays; keep <= 0 keeps all). A crash at any
 * point leaves latest naming a complete checkpoint. path_out (may be NULL)
 * receives the written path (malloc'd). */
presto_status presto_checkpoint_save_rotating(const char *dir, const presto_train_state *s, int keep, int n_meta,
					      const char *const *meta_kv, char **path_out);
/* The path (malloc'd) of the checkpoint dir/latest names. PRESTO_EEOF when
 * dir has no latest (a fresh run); EINVAL when latest is malformed or names a
 * missing file. */
presto_status presto_checkpoint_latest(const char *dir, char **path_out);

#endif
