//! Routes the core library's messages (the exit accounting line with
//! `undelivered=N`, connection errors) into nginx's error log, at the matching
//! level, when the module runs inside nginx. Outside nginx nothing is set and the
//! library writes to standard error.
//!
//! nginx exports its symbols to dynamic modules; `ngx_cycle->log` stays valid until
//! the worker's last `exit()` (nginx switches it to a static exit log first), which
//! is when the library's `atexit` accounting line is written.
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};

/// `void ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err, const char *fmt, ...)`.
type NgxLogErrorCore = unsafe extern "C" fn(usize, *mut c_void, c_int, *const c_char, ...);
use super::{SetLogCallbackFn, WatchShutdownFn};

/// The two nginx symbols, resolved once.
struct Ngx {
    log_error_core: NgxLogErrorCore,
    /// `volatile ngx_cycle_t *ngx_cycle`.
    cycle: *const *const c_void,
}

static NGX: std::sync::OnceLock<Option<NgxAddrs>> = std::sync::OnceLock::new();

/// Addresses kept as integers so the cell is `Sync`.
#[derive(Clone, Copy)]
struct NgxAddrs {
    core: usize,
    cycle: usize,
}

fn ngx() -> Option<Ngx> {
    let a = (*NGX.get_or_init(|| {
        let find = |name: &CStr| {
            // SAFETY: RTLD_DEFAULT lookup of a NUL-terminated name; no other effect.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            (!p.is_null()).then_some(p as usize)
        };
        Some(NgxAddrs {
            core: find(c"ngx_log_error_core")?,
            cycle: find(c"ngx_cycle")?,
        })
    }))?;
    Some(Ngx {
        // SAFETY: the address is nginx's ngx_log_error_core, whose C prototype is
        // the type above.
        log_error_core: unsafe { std::mem::transmute::<usize, NgxLogErrorCore>(a.core) },
        cycle: a.cycle as *const *const c_void,
    })
}

extern "C" fn to_nginx(level: c_int, msg: *const c_char, len: usize, _user: *mut c_void) {
    let Some(n) = ngx() else { return };
    // syslog numbers (3 error .. 6 info) → nginx's (4 NGX_LOG_ERR .. 7 NGX_LOG_INFO).
    let level = (level.clamp(3, 6) + 1) as usize;
    // SAFETY: ngx_cycle is a live global of the nginx process; ngx_cycle_t starts
    // with `conf_ctx`, `pool`, `log` (pointers), so `log` is the third word;
    // ngx_log_t starts with `ngx_uint_t log_level`. Both are read-only here.
    unsafe {
        let cycle = std::ptr::read_volatile(n.cycle);
        if cycle.is_null() {
            return;
        }
        let log = *(cycle as *const *mut c_void).add(2);
        if log.is_null() || *(log as *const usize) < level {
            return;
        }
        (n.log_error_core)(level, log, 0, c"zmq_logger: %*s".as_ptr(), len, msg);
    }
}

/// nginx's `worker_shutdown_timeout` in ms (0: none), read from the running cycle's
/// core configuration: `ngx_cycle->conf_ctx[ngx_core_module.index]` is the
/// `ngx_core_conf_t`, whose fourth word is `shutdown_timeout` (after `daemon`,
/// `master`, `timer_resolution`); `ngx_module_t`'s second word is `index`.
extern "C" fn shutdown_timeout_ms() -> u32 {
    let find = |name: &CStr| {
        // SAFETY: RTLD_DEFAULT lookup of a NUL-terminated name; no other effect.
        unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
    };
    let (cycle, core) = (find(c"ngx_cycle"), find(c"ngx_core_module"));
    if cycle.is_null() || core.is_null() {
        return 0;
    }
    // SAFETY: the layouts above are nginx's (1.x, stable for these leading fields);
    // every pointer is checked before it is followed; reads only.
    unsafe {
        let cycle = std::ptr::read_volatile(cycle as *const *const *const *const usize);
        if cycle.is_null() {
            return 0;
        }
        let conf_ctx = *cycle;
        let index = *(core as *const usize).add(1);
        if conf_ctx.is_null() {
            return 0;
        }
        let ccf = *conf_ctx.add(index);
        if ccf.is_null() {
            return 0;
        }
        (*ccf.add(3)).min(u32::MAX as usize) as u32
    }
}

/// Registers [`to_nginx`] with the library when running inside nginx, and tells it
/// how nginx shuts a worker down (`ngx_exiting`, `worker_shutdown_timeout`), so
/// the exit wait never keeps an old worker past that timeout.
pub fn install(set: SetLogCallbackFn, watch: WatchShutdownFn) {
    if ngx().is_some() {
        // SAFETY: `set` is the library's zmq_adaptor_set_log_callback; the callback is
        // a static function and needs no user pointer.
        unsafe { set(Some(to_nginx), std::ptr::null_mut()) };
        // SAFETY: RTLD_DEFAULT lookup of a NUL-terminated name.
        let exiting = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"ngx_exiting".as_ptr()) };
        if !exiting.is_null() {
            // SAFETY: `watch` is the library's zmq_adaptor_watch_shutdown; ngx_exiting
            // is an ngx_uint_t global of the nginx process; the function is static.
            unsafe { watch(exiting as *const usize, Some(shutdown_timeout_ms)) };
        }
    }
}
