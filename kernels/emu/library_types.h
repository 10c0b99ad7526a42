/* library_types.h (presto's CUDA emulator): the data type tags of the CUDA
 * libraries (the values are CUDA's). */
#ifndef PRESTO_EMU_LIBRARY_TYPES_H
#define PRESTO_EMU_LIBRARY_TYPES_H
typedef enum { CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14 } cudaDataType;
#endif
