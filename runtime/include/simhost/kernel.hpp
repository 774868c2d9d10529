// Umbrella for the kernel API's one-concern headers below, so existing includes keep working.
#pragma once

#include "simhost/array_view.hpp"
#include "simhost/bind.hpp"
#include "simhost/call_context.hpp"
#include "simhost/signature.hpp"
