// parley/export.hpp — symbol visibility.
//
// parley is built with -fvisibility=hidden; every public class and function
// is marked PARLEY_EXPORT so that a shared build exports exactly the public
// API and nothing else. In a static build the attribute is harmless.
#pragma once

#if defined(_WIN32)
#define PARLEY_EXPORT
#else
/// Marks a public name as exported from the shared library.
#define PARLEY_EXPORT [[gnu::visibility("default")]]
#endif
