// The autograd API in one include.
#pragma once
#include "moelab/autograd/custom_function.h"
#include "moelab/autograd/engine.h"
#include "moelab/autograd/function.h"
#include "moelab/autograd/grad_mode.h"
#include "moelab/autograd/gradcheck.h"
#include "moelab/autograd/node.h"
