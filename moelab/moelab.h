// The umbrella header: #include <moelab/moelab.h> gives the whole public API.
#pragma once
#include "moelab/core/allocator.h"
#include "moelab/core/device.h"
#include "moelab/core/dtype.h"
#include "moelab/core/error.h"
#include "moelab/core/parallel.h"
#include "moelab/core/tensor.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/linalg_decomp.h"
#include "moelab/ops/reduce.h"
#include "moelab/ops/softmax.h"
