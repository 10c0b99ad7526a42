#!/bin/sh
# pack.sh - prepare a lent GPU machine's run (here, on the build machine):
# build the tools, the CUDA backend and the GPU tests with nvcc, and gather
# into .gpu/ (ignored by git; named in the device run's carry) the binaries
# that run there with the conformance fixtures (in presto-gpu.tar.xz: a
# device call carries 64 MiB with the working tree) and the Debian packages
# of the shared libraries they need beyond glibc, libstdc++ and the CUDA
# toolkit (the device image has those but not OpenBLAS, msgpack-c, jansson,
# libsndfile, sentencepiece, libpng).
# Then, on the device machine: sh pipelines/gpu/run.sh (docs/gpu.md).
#
#   sh pipelines/gpu/pack.sh [--reference SAT_GIT_DIR KD_GIT_DIR]
#
# --reference also packs snapshots of stable-audio-tools and k-diffusion
# (git directories, e.g. from the fetch tool), as ref/, for
# pipelines/gpu/reference.py: run there, never part of presto.
set -e
ref_sat=
ref_kd=
if [ "$1" = --reference ]; then
	ref_sat=$2
	ref_kd=$3
	[ -d "$ref_sat" ] && [ -d "$ref_kd" ] || { echo "pack.sh: --reference SAT_GIT_DIR KD_GIT_DIR" >&2; exit 1; }
fi
: "${BUILD:=build}"
command -v nvcc > /dev/null || { echo "pack.sh: no nvcc" >&2; exit 2; }
make -j"$(nproc)" BUILD="$BUILD" all "$BUILD"/tests/gpu/test_kernels "$BUILD"/tests/gpu/test_dit \
	"$BUILD"/tests/gpu/test_vae "$BUILD"/tests/gpu/test_t5 "$BUILD"/tests/mkmodel "$BUILD"/tests/conformance > /dev/null
rm -rf .gpu
S=.gpu/stage # packed into .gpu/presto-gpu.tar.xz (binaries shrink about 16x)
mkdir -p $S/build/bin $S/build/lib/presto $S/build/tests/gpu .gpu/debs
cp "$BUILD"/bin/presto-* $S/build/bin/
cp "$BUILD"/lib/presto/libpresto-cuda.so $S/build/lib/presto/
cp "$BUILD"/tests/gpu/test_kernels "$BUILD"/tests/gpu/test_dit "$BUILD"/tests/gpu/test_vae "$BUILD"/tests/gpu/test_t5 \
	$S/build/tests/gpu/
cp "$BUILD"/tests/mkmodel "$BUILD"/tests/conformance $S/build/tests/
strip $S/build/bin/* $S/build/tests/gpu/* $S/build/tests/mkmodel $S/build/tests/conformance $S/build/lib/presto/*.so
# the reference fixtures the GPU runs (the gradient ones run on the CPU only)
: "${FIXTURES:=../shared/conformance}"
if [ -d "$FIXTURES" ]; then
	mkdir -p $S/conformance
	for f in "$FIXTURES"/*; do
		case ${f##*/} in grad_*) ;; *) cp "$f" $S/conformance/ ;; esac
	done
fi
# the packages of every shared library the binaries load, but the C and C++
# runtimes (newer on the device) and CUDA's own
libs=$(for f in $S/build/bin/* $S/build/tests/gpu/* $S/build/tests/mkmodel; do ldd "$f"; done |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
	grep -v -E '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so|/usr/local/cuda')
pkgs=$(for l in $libs; do dpkg -S "$(readlink -f "$l")" 2> /dev/null || dpkg -S "$l"; done | cut -d: -f1 | sort -u)
(cd .gpu/debs && apt-get download $pkgs > /dev/null 2>&1)
printf '%s\n' $pkgs > .gpu/packages.txt
if [ -n "$ref_sat" ]; then
	mkdir -p $S/ref/stable-audio-tools $S/ref/k-diffusion
	git --git-dir="$ref_sat" archive HEAD stable_audio_tools | tar -x -C $S/ref/stable-audio-tools
	git --git-dir="$ref_kd" archive HEAD k_diffusion | tar -x -C $S/ref/k-diffusion
fi
tar -c -C $S . | xz -T0 -6 > .gpu/presto-gpu.tar.xz
rm -rf $S
# what a device call carries: the working tree and .gpu, 64 MiB at most
tree=$(git ls-files -z | du -c -k --files0-from=- | tail -n 1 | cut -f1)
gpu=$(du -s -k .gpu | cut -f1)
echo "pack.sh: .gpu holds $((gpu / 1024)) MiB, the working tree $((tree / 1024)) MiB" >&2
if [ $((tree + gpu)) -gt $((60 * 1024)) ]; then
	echo "pack.sh: more than a device call carries (64 MiB with the tree)" >&2
	exit 2
fi
