//! Run-time choice of the vector width plain Rust loops are compiled for.

/// The widest vectors this CPU has, for a kernel's loops to be compiled for: the build targets
/// baseline x86-64 (SSE2). Each lane does the same multiply and add in the same order at
/// every width (Rust does not contract them into FMAs), so the floats do not change with it.
#[derive(Clone, Copy)]
pub enum Level {
    /// AVX-512F.
    V4,
    /// AVX2.
    V3,
    /// The build's baseline.
    Base,
}

impl Level {
    /// This CPU's.
    pub fn detect() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Level::V4;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Level::V3;
            }
        }
        Level::Base
    }
}

/// `$vis fn $name(level: Level, args...)`: calls `$body(args...)` (an `#[inline(always)]`
/// function) compiled for `level`, one copy per level with `#[target_feature]`, so that the
/// body's loops are vectorised for the CPU the program runs on.
macro_rules! versions {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) => $body:ident) => {
        $(#[$m])*
        $vis fn $name(level: $crate::model::kernels::flex::simd::Level, $($a: $t),*) {
            use $crate::model::kernels::flex::simd::Level;
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            unsafe fn v4($($a: $t),*) {
                $body($($a),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            unsafe fn v3($($a: $t),*) {
                $body($($a),*)
            }
            match level {
                // SAFETY: Level::detect found the feature on this CPU.
                #[cfg(target_arch = "x86_64")]
                Level::V4 => unsafe { v4($($a),*) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                Level::V3 => unsafe { v3($($a),*) },
                _ => $body($($a),*),
            }
        }
    };
}
pub(crate) use versions;
