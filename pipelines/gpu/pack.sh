#!/bin/sh
# pack.sh - prepare a lent GPU machine's run (here, on the build machine):
# build the tools, the CUDA backend and the GPU tests with nvcc, and gather
# into .gpu/ (ignored by git; named in the device run's carry) the binaries
# that run there and the Debian packages of the shared libraries they need
# beyond glibc, libstdc++ and the CUDA toolkit (the device image has those
# but not OpenBLAS, msgpack-c, jansson, libsndfile, sentencepiece, libpng).
# Then, on the device machine: sh pipelines/gpu/run.sh (docs/gpu.md).
#
#   sh pipelines/gpu/pack.sh [--reference SAT_GIT_DIR KD_GIT_DIR]
#
# --reference also copies snapshots of stable-audio-tools and k-diffusion
# (git directories, e.g. from the fetch tool) into .gpu/ref for
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
mkdir -p .gpu/build/bin .gpu/build/lib/presto .gpu/build/tests/gpu .gpu/debs
cp "$BUILD"/bin/presto-* .gpu/build/bin/
cp "$BUILD"/lib/presto/libpresto-cuda.so .gpu/build/lib/presto/
cp "$BUILD"/tests/gpu/test_kernels "$BUILD"/tests/gpu/test_dit "$BUILD"/tests/gpu/test_vae "$BUILD"/tests/gpu/test_t5 \
	.gpu/build/tests/gpu/
cp "$BUILD"/tests/mkmodel "$BUILD"/tests/conformance .gpu/build/tests/
# the reference fixtures (about 22 MB)
: "${FIXTURES:=../shared/conformance}"
[ -d "$FIXTURES" ] && cp -r "$FIXTURES" .gpu/conformance
strip .gpu/build/bin/* .gpu/build/tests/gpu/* .gpu/build/tests/mkmodel .gpu/build/tests/conformance \
	.gpu/build/lib/presto/*.so
# the packages of every shared library the binaries load, but the C and C++
# runtimes (newer on the device) and CUDA's own
libs=$(for f in .gpu/build/bin/* .gpu/build/tests/gpu/* .gpu/build/tests/mkmodel; do ldd "$f"; done |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
	grep -v -E '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so|/usr/local/cuda')
pkgs=$(for l in $libs; do dpkg -S "$(readlink -f "$l")" 2> /dev/null || dpkg -S "$l"; done | cut -d: -f1 | sort -u)
(cd .gpu/debs && apt-get download $pkgs > /dev/null)
printf '%s\n' $pkgs > .gpu/packages.txt
if [ -n "$ref_sat" ]; then
	mkdir -p .gpu/ref/stable-audio-tools .gpu/ref/k-diffusion
	git --git-dir="$ref_sat" archive HEAD stable_audio_tools | tar -x -C .gpu/ref/stable-audio-tools
	git --git-dir="$ref_kd" archive HEAD k_diffusion | tar -x -C .gpu/ref/k-diffusion
fi
du -sh .gpu | cut -f1 | sed 's/^/pack.sh: .gpu holds /'
