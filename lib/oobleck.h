/* oobleck.h - the Oobleck VAE (stable-audio-tools OobleckEncoder/Decoder +
 * VAE bottleneck) as SAO uses it: 1-D convolutions with weight norm, SnakeBeta
 * activations, strided / transposed convolutions. Weight names are the
 * reference names under a prefix ("pretransform.model." in SAO checkpoints:
 * encoder.layers.*, decoder.layers.*); weight_g/weight_v are folded at load. */
#ifndef PRESTO_OOBLECK_H
#define PRESTO_OOBLECK_H

#include <jansson.h>

#include "params.h"
#include "safetensors.h"

#define PRESTO_OOBLECK_MAX_BLOCKS 16

typedef struct {
	int audio_channels;   /* encoder in_channels = decoder out_channels */
	int channels;         /* base width */
	int n_blocks;
	int c_mults[PRESTO_OOBLECK_MAX_BLOCKS];
	int strides[PRESTO_OOBLECK_MAX_BLOCKS];
	int latent_dim;       /* decoder input / VAE latent channels */
	int encoder_out_dim;  /* 2 * latent_dim for the VAE bottleneck */
	int use_snake;        /* must be 1 (ELU variant unsupported) */
	int final_tanh;
	int downsampling_ratio; /* product of strides */
	int has_encoder, has_decoder;
	float scale;          /* pretransform "scale" (default 1; 0 counts as 1):
			       * latents are bottleneck output / scale, decode
			       * takes z * scale */
} presto_oobleck_config;

/* From an SAO "pretransform" object ({"type": "autoencoder", "config":
 * {"encoder": ..., "decoder": ..., "bottleneck": {"type": "vae"}, ...}}).
 * Either of encoder/decoder may be absent; when both are given they must
 * share channels, c_mults and strides. Options the port does not implement
 * (ELU instead of snake, antialiasing, nearest upsampling, soft_clip, other
 * bottlenecks) are PRESTO_EUNSUP; "model_half" and "chunked" are ignored (the
 * whole item is computed at once in fp32). */
presto_status presto_oobleck_config_from_json(const json_t *pretransform, presto_oobleck_config *c);

/* Latent frames for N audio frames (N/ratio when N is a multiple of the
 * ratio) and audio frames for Lz latent frames (Lz*ratio for even strides);
 * -1 when the input is too short for the strided convolutions or the result
 * does not fit an int. */
int presto_vae_latent_len(const presto_oobleck_config *c, int N);
int presto_vae_audio_len(const presto_oobleck_config *c, int Lz);

typedef struct presto_vae presto_vae;
/* Loads the encoder and/or decoder found under prefix (a decoder-only file is
 * fine for presto-decode): the parts the config names and the file holds
 * (has_encoder/has_decoder of presto_vae_get_config() tell which). Weight-norm
 * pairs (weight_g, weight_v) are folded once; already folded ".weight"
 * tensors are accepted too. Every parameter is copied into memory owned by
 * the model, so st may be closed after loading. */
presto_status presto_vae_load(presto_st *st, const char *prefix, const presto_oobleck_config *c, presto_vae **out);
void presto_vae_free(presto_vae *m);
const presto_oobleck_config *presto_vae_get_config(const presto_vae *m);

/* presto_vae_encode / presto_vae_decode allocate their buffers per call and
 * do not modify the model: several threads may share one. */

/* Convolutions whose im2col buffer would exceed `floats` floats run in time
 * tiles of that size (same result up to fp32 summation order); 0 restores the
 * default (16M floats = 64 MiB). The activations of a call take about
 * 3 * max(C*T) floats over its layers on top of that. */
void presto_vae_set_work_limit(presto_vae *m, size_t floats);

/* One item: pre-bottleneck encoder output
 * out[encoder_out_dim, presto_vae_latent_len(N)] for audio[audio_channels, N].
 * Hook names: encoder.layers.{i} with shape [C, T]. */
presto_status presto_vae_encode(presto_vae *m, float *out, const float *audio, int N, presto_hook hook, void *ctx);
/* VAE bottleneck on pre[encoder_out_dim, Lz]: mean = pre[:latent],
 * scale = pre[latent:]; std = softplus(scale) + 1e-4;
 * z = (mean + noise * std) / c->scale (noise NULL: z = mean / c->scale);
 * z [latent_dim, Lz] may alias pre. kl (may be NULL) = sum over channels, mean
 * over frames of (mean^2 + var - log var - 1). */
void presto_vae_bottleneck(const presto_oobleck_config *c, float *z, const float *pre, const float *noise, int Lz,
			   double *kl);
/* One item: audio[audio_channels, presto_vae_audio_len(Lz)] for
 * z[latent_dim, Lz] (decoded from z * c->scale). Hook names:
 * decoder.layers.{i} with shape [C, T]. */
presto_status presto_vae_decode(presto_vae *m, float *audio, const float *z, int Lz, presto_hook hook, void *ctx);

/* An accelerator (a GPU) for presto_vae_decode: called with its arguments
 * when set and no hook is asked for. fn NULL goes back to the CPU; the model
 * keeps fn and ctx without owning ctx. */
typedef presto_status (*presto_vae_accel_fn)(void *ctx, float *audio, const float *z, int Lz);
void presto_vae_set_accel(presto_vae *m, presto_vae_accel_fn fn, void *ctx);
/* The same for presto_vae_encode (out [encoder_out_dim, Lz] for audio
 * [audio_channels, N]); ctx is the decoder's. */
typedef presto_status (*presto_vae_encode_accel_fn)(void *ctx, float *out, const float *audio, int N);
void presto_vae_set_encode_accel(presto_vae *m, presto_vae_encode_accel_fn fn);

/* Floating-point operations of one decode of Lz latent frames (2 per
 * multiply-add of the convolutions; the Snakes and additions are not
 * counted), for benchmarks' compute floors; 0 for an invalid length. */
double presto_vae_decode_flops(const presto_oobleck_config *c, int Lz);

/* ---- training ----
 *
 * The trainable model: parameters in a presto_params table (weight_g,
 * weight_v, bias of every weight-normed conv, alpha, beta of every SnakeBeta,
 * under their reference names), weights folded from g and v before each
 * training forward (g and v are what is trained). A training forward runs B
 * items one after the other and keeps what the backward needs in an arena
 * that is allocated once per (B, length) and reused; the backward then
 * accumulates (+=) into a gradient buffer of the table's layout
 * (presto_params_buffer()) and into the input gradient. Memory per item is
 * about 2 + 7 * n_blocks activations of the widest [C, T] sizes; the
 * convolutions run untiled (im2col of each whole conv). */

/* Declare the parameters of the encoder and/or decoder in ps (names
 * prefix + "encoder.layers..." / "decoder.layers...", torch shapes;
 * weight_v with weight decay, the others without); call
 * presto_params_alloc() afterwards (other tensors may be declared too). The
 * config's has_encoder / has_decoder are not consulted: the geometry is
 * shared. */
presto_status presto_oobleck_params(const presto_oobleck_config *c, const char *prefix, int encoder, int decoder,
				    presto_params *ps);
/* A model on ps's allocated data (every declared tensor of the parts asked
 * for must be there with its shape): biases and Snake parameters are read in
 * place, weights are folded into the model's own buffer. ps must outlive the
 * model and keep its data allocation. presto_vae_encode / presto_vae_decode
 * work on it too (with the weights of the last fold). */
presto_status presto_vae_from_params(const presto_oobleck_config *c, const presto_params *ps, const char *prefix,
				     int encoder, int decoder, presto_vae **out);
/* Fold weight_g / weight_v into the weights again (after an optimizer step,
 * before presto_vae_encode / presto_vae_decode; the training forwards do it
 * themselves). No-op for a loaded model. */
void presto_vae_refold(presto_vae *m);

typedef struct presto_vae_train presto_vae_train;
/* Training state of a table model (EUNSUP for a loaded one): one arena for
 * the encoder, one for the decoder, shared scratch. */
presto_status presto_vae_train_new(presto_vae *m, presto_vae_train **out);
void presto_vae_train_free(presto_vae_train *t);

/* Encoder forward of B items: pre[B, encoder_out_dim, presto_vae_latent_len(N)]
 * for audio[B, audio_channels, N] (refolds the encoder weights first). */
presto_status presto_vae_encode_train(presto_vae_train *t, float *pre, const float *audio, int B, int N);
/* Backward of the last presto_vae_encode_train (parameters unchanged since):
 * d_pre [B, encoder_out_dim, Lz] -> d_audio [B, audio_channels, N] (+=, NULL
 * when not needed) and the encoder's entries of grad (+=). */
presto_status presto_vae_encode_backward(presto_vae_train *t, float *d_audio, float *grad, const float *d_pre);
/* Decoder forward of B items: audio[B, audio_channels, presto_vae_audio_len(Lz)]
 * for z[B, latent_dim, Lz] (decoded from z * c->scale; refolds the decoder
 * weights first). */
presto_status presto_vae_decode_train(presto_vae_train *t, float *audio, const float *z, int B, int Lz);
/* Backward of the last presto_vae_decode_train: d_audio [B, audio_channels, N]
 * -> dz [B, latent_dim, Lz] (+=, may be NULL) and the decoder's entries of
 * grad (+=). */
presto_status presto_vae_decode_backward(presto_vae_train *t, float *dz, float *grad, const float *d_audio);

/* Backward of presto_vae_bottleneck for one item: d_pre [encoder_out_dim, Lz]
 * += the gradient through z (d_z [latent_dim, Lz], NULL for none) and
 * through kl (d_kl = dLoss/dkl of this item's kl; 0 for none), with the same
 * pre and noise (NULL: z = mean / scale). For the batch KL of the reference
 * (mean over items), each item's d_kl is dLoss/dKL / B. */
void presto_vae_bottleneck_backward(const presto_oobleck_config *c, float *d_pre, const float *d_z, double d_kl,
				    const float *pre, const float *noise, int Lz);

#endif
