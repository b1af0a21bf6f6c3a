#pragma once
/**
 * @file
 * @brief The umbrella header: includes every public header of ctt. Each header also stands
 *        alone, so a program may include only what it uses.
 */

// core
#include "ctt/core/errors.hpp"
#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/core/tensor_view.hpp"

// simd
#include "ctt/simd/batch.hpp"

// kernels

// attention
#include "ctt/attention/attention_concepts.hpp"

// position

// io
