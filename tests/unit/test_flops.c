/* test_flops.c - the FLOP and weight-byte counts of the benchmarks' floors
 * (presto_dit_flops, presto_dit_weight_bytes, presto_vae_decode_flops,
 * presto_t5_flops) against counts done by hand, layer by layer, for tiny
 * models. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dit.h"
#include "oobleck.h"
#include "t5.h"

#include "check.h"

int main(void)
{
	/* DiT: D 4, F 4 (mult 1), C 2, no context, 1 item of 2 frames (3 rows) */
	presto_dit_config d = {.io_channels = 2, .embed_dim = 4, .depth = 2, .num_heads = 1, .d_head = 4, .ff_mult = 1};
	/* a block: qkv 2*3*4*12 = 288, attention 4*9*4 = 144, out 2*3*4*4 = 96,
	 * ff in 2*3*4*8 = 192, ff out 2*3*4*4 = 96: 816; around them: the 1x1
	 * convolutions 2 * (2*2*2*2) = 32, project_in 2*2*2*4 = 32, project_out
	 * 2*3*4*2 = 48: 112 */
	double f1 = presto_dit_flops(&d, 1, 2, 0, 1), f2 = presto_dit_flops(&d, 1, 2, 0, 2);
	CHECK(f1 == 928 && f2 - f1 == 816, "DiT FLOPs: one block %g (928), a second one adds %g (816)", f1, f2 - f1);
	/* with 5 context tokens of width 3 projected to Ce 4: + per block q 96,
	 * kv 2*5*4*8 = 320, attention 4*3*5*4 = 240, out 96 = 752; + context
	 * embedding 2*5*(3*4 + 4*4) = 280 */
	d.cond_token_dim = 3;
	d.cond_embed_dim = 4;
	double fc = presto_dit_flops(&d, 1, 2, 5, 1);
	CHECK(fc == 928 + 752 + 280, "DiT FLOPs with context: %g (1960)", fc);
	/* weights of a block: 3*16 + 16 + 2*16 + 16 = 112, cross 2*16 + 2*16 = 64 */
	double wb = presto_dit_weight_bytes(&d, 3, 2);
	CHECK(wb == (112 + 64) * 3 * 2, "DiT weight bytes: %g (1056)", wb);

	/* VAE decoder: latent 3, channels 2, one block of c_mult 2 and stride 2,
	 * 4 latent frames: in 2*3*4*7*4 = 672; transposed 2*4*2*4*4 = 256 to 8
	 * frames; residual units 3 * (2*2*2*7*8 + 2*2*2*8) = 1536; out
	 * 2*2*2*7*8 = 448 */
	presto_oobleck_config v;
	memset(&v, 0, sizeof v);
	v.audio_channels = 2, v.channels = 2, v.n_blocks = 1, v.c_mults[0] = 2, v.strides[0] = 2, v.latent_dim = 3;
	double fv = presto_vae_decode_flops(&v, 4);
	CHECK(fv == 2912, "VAE decode FLOPs: %g (2912)", fv);
	CHECK(presto_vae_decode_flops(&v, 0) == 0, "VAE decode FLOPs of no frame: 0");

	/* T5: D 4, 2 heads of 2, d_ff 8, one layer, 3 tokens: q k v o 2*3*4*4*4 =
	 * 384, attention 4*9*4 = 144, ReLU feed-forward 2*3*4*8*2 = 384; gated
	 * + 192 */
	presto_t5_config t = {.d_model = 4, .d_kv = 2, .num_heads = 2, .d_ff = 8, .num_layers = 1};
	double ft = presto_t5_flops(&t, 1, 3);
	t.gated = 1;
	double fg = presto_t5_flops(&t, 1, 3);
	CHECK(ft == 912 && fg == 1104, "T5 FLOPs: %g (912), gated %g (1104)", ft, fg);
	return check_status();
}
