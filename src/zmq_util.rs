//! Small additions over the `zmq` crate: socket options it does not wrap.

use std::os::raw::c_int;

/// `ZMQ_XPUB_NODROP` from zmq.h (libzmq ≥ 4.1).
const ZMQ_XPUB_NODROP: c_int = 69;

fn set_int_opt(sock: &mut zmq::Socket, opt: c_int, value: c_int) -> zmq::Result<()> {
    // SAFETY: the socket pointer is live for the borrow; the value pointer and size
    // describe one c_int on our stack, which libzmq only reads.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            sock.as_mut_ptr(),
            opt,
            &value as *const c_int as *const std::os::raw::c_void,
            std::mem::size_of::<c_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: zmq_errno only reads libzmq's thread-local errno.
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
    }
}

/// Makes an XPUB socket return EAGAIN at the high-water mark instead of dropping.
pub fn set_xpub_nodrop(sock: &mut zmq::Socket) -> zmq::Result<()> {
    set_int_opt(sock, ZMQ_XPUB_NODROP, 1)
}
