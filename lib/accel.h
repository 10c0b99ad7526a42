/* accel.h - where the DiT runs: the CPU, or a CUDA GPU through the backend
 * library (lib/cuda_backend.h) opened only when a GPU is to be used.
 *
 *   auto      a CUDA GPU when one is present and the backend library runs
 *             on it, else the CPU (a note says why when a GPU was present)
 *   cpu       the CPU; nothing CUDA is touched
 *   cuda[:N]  GPU N (default 0), or an error saying why not
 *
 * Precision on a GPU: auto (bf16 where the GPU has bf16 tensor cores, else
 * fp32), fp32 (the parity path: fp32 weights and activations, fp32 GEMMs
 * without TF32) or bf16. The CPU always computes in fp32. */
#ifndef PRESTO_ACCEL_H
#define PRESTO_ACCEL_H

#include <stddef.h>

#include "dit.h"
#include "error.h"
#include "oobleck.h"
#include "t5.h"

typedef enum { PRESTO_DEVICE_AUTO, PRESTO_DEVICE_CPU, PRESTO_DEVICE_CUDA } presto_device_kind;
typedef enum { PRESTO_PRECISION_AUTO, PRESTO_PRECISION_FP32, PRESTO_PRECISION_BF16 } presto_precision;

typedef struct presto_device_req {
	presto_device_kind kind;
	int index;                  /* cuda:N */
	presto_precision precision;
} presto_device_req;

/* "auto", "cpu", "cuda" or "cuda:N" (0 <= N < 16); EINVAL otherwise. */
presto_status presto_device_parse(const char *s, presto_device_req *r);
/* "auto", "fp32" or "bf16"; EINVAL otherwise. */
presto_status presto_precision_parse(const char *s, presto_precision *p);

typedef struct presto_accel presto_accel;

/* Run m's inference forwards on the requested device. The CPU (asked for,
 * or chosen by auto): *out is NULL and m is left alone. Otherwise m's
 * weights are uploaded and m calls the GPU until presto_accel_free(). `used`
 * (len bytes) receives what runs it ("cpu", or "cuda:0 NAME, 80.0 GiB,
 * sm_90, bf16"); `note` receives why auto chose the CPU although a GPU is
 * present ("" otherwise). Errors: EUNSUP when cuda was asked for and cannot
 * run (no driver, no such device, no backend library, bf16 on a GPU
 * without it), ENOMEM when the GPU's memory is too small, with a message. */
presto_status presto_accel_attach(presto_dit *m, const presto_device_req *r, presto_accel **out, char *used,
				  size_t used_len, char *note, size_t note_len);
/* The same for a VAE: presto_vae_decode, and presto_vae_encode when the
 * encoder is loaded, run on the GPU ("VAE decoder" in the messages). */
presto_status presto_accel_attach_vae(presto_vae *m, const presto_device_req *r, presto_accel **out, char *used,
				      size_t used_len, char *note, size_t note_len);
/* The same for a T5 text encoder, always fp32 on the GPU: with precision
 * auto or bf16 its GEMMs use TF32 ("tf32" in `used`), with fp32 not. */
presto_status presto_accel_attach_t5(presto_t5 *m, const presto_device_req *r, presto_accel **out, char *used,
				     size_t used_len, char *note, size_t note_len);
/* Detach from the model (it runs on the CPU again) and free the GPU copy. */
void presto_accel_free(presto_accel *a);

/* Whether presto can run on GPU `index`: 0 and what (the backend library,
 * the device's name and memory) in msg, or non-zero and why not. Loads the
 * backend library and creates the device's context. */
int presto_accel_check(int index, char *msg, size_t len);

/* GPU memory of the process: in use now, the peak so far, the device's
 * total (bytes); zeros for NULL. */
void presto_accel_memory(const presto_accel *a, size_t *used, size_t *peak, size_t *total);

#endif
