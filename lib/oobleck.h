/* oobleck.h - the Oobleck VAE (stable-audio-tools OobleckEncoder/Decoder +
 * VAE bottleneck) as SAO uses it: 1-D convolutions with weight norm, SnakeBeta
 * activations, strided / transposed convolutions. Weight names are the
 * reference names under a prefix ("pretransform.model." in SAO checkpoints:
 * encoder.layers.*, decoder.layers.*); weight_g/weight_v are folded at load. */
#ifndef PRESTO_OOBLECK_H
#define PRESTO_OOBLECK_H

#include <jansson.h>

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
} presto_oobleck_config;

/* From an SAO "pretransform" object ({"type": "autoencoder", "config":
 * {"encoder": ..., "decoder": ..., "bottleneck": {"type": "vae"}, ...}}). */
presto_status presto_oobleck_config_from_json(const json_t *pretransform, presto_oobleck_config *c);

typedef struct presto_vae presto_vae;
/* Loads the encoder and/or decoder found under prefix (a decoder-only file is
 * fine for presto-decode). */
presto_status presto_vae_load(presto_st *st, const char *prefix, const presto_oobleck_config *c, presto_vae **out);
void presto_vae_free(presto_vae *m);
const presto_oobleck_config *presto_vae_get_config(const presto_vae *m);

/* One item: pre-bottleneck encoder output out[encoder_out_dim, N/ratio] for
 * audio[audio_channels, N]. Hook names: encoder.layers.{i}. */
presto_status presto_vae_encode(presto_vae *m, float *out, const float *audio, int N, presto_hook hook, void *ctx);
/* VAE bottleneck: mean = pre[:latent], scale = pre[latent:];
 * std = softplus(scale) + 1e-4; z = mean + noise * std (noise NULL: z = mean).
 * kl (may be NULL) = sum over channels, mean over frames of
 * (mean^2 + var - log var - 1). */
void presto_vae_bottleneck(const presto_oobleck_config *c, float *z, const float *pre, const float *noise, int Lz,
			   double *kl);
/* One item: audio[audio_channels, Lz*ratio] for z[latent_dim, Lz]. Hook names: decoder.layers.{i}. */
presto_status presto_vae_decode(presto_vae *m, float *audio, const float *z, int Lz, presto_hook hook, void *ctx);

#endif
