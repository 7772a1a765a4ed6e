//! One call per socket: [`apply_server`] for sockets the adaptor binds on tcp,
//! [`apply_client`] for the workers' (and consumers') connecting sockets. Both must
//! be called before `bind`/`connect`.

use super::cert::{KeyPair, PublicKey, SecretKey};
use super::SecurityError;
use std::os::raw::c_int;

/// `ZMQ_ZAP_ENFORCE_DOMAIN` from zmq.h (libzmq ≥ 4.3).
const ZMQ_ZAP_ENFORCE_DOMAIN: c_int = 93;

/// How a bound socket authenticates its peers.
#[derive(Debug, Clone)]
pub struct ServerSecurity {
    /// The server's key pair: the socket becomes a CURVE server. `None`: the NULL
    /// mechanism (no encryption), peers still pass the ZAP handler (address list).
    pub curve: Option<KeyPair>,
    /// ZAP domain the socket's handshakes are checked under (shows in log lines, e.g.
    /// `"publish"`).
    pub zap_domain: String,
}

fn opt_err(what: &str) -> impl FnOnce(zmq::Error) -> SecurityError + '_ {
    move |err| SecurityError::Zmq {
        what: what.to_string(),
        err,
    }
}

/// Makes `sock` a CURVE server with `s.curve`'s secret key (when given) and sends
/// every handshake to the ZAP handler under `s.zap_domain`, failing closed: with
/// `ZMQ_ZAP_ENFORCE_DOMAIN`, a handshake when no ZAP handler runs is refused instead of
/// admitted. Call before `bind`.
pub fn apply_server(sock: &mut zmq::Socket, s: &ServerSecurity) -> Result<(), SecurityError> {
    if let Some(keys) = &s.curve {
        sock.set_curve_server(true)
            .map_err(opt_err("ZMQ_CURVE_SERVER (is libzmq built with CURVE?)"))?;
        sock.set_curve_secretkey(keys.secret.as_bytes())
            .map_err(opt_err("ZMQ_CURVE_SECRETKEY"))?;
    }
    let domain = if s.zap_domain.is_empty() {
        "global"
    } else {
        &s.zap_domain
    };
    sock.set_zap_domain(domain)
        .map_err(opt_err("ZMQ_ZAP_DOMAIN"))?;
    let one: c_int = 1;
    // SAFETY: the socket pointer is live for the exclusive borrow; the value pointer
    // and size describe one c_int on our stack, which libzmq only reads.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            sock.as_mut_ptr(),
            ZMQ_ZAP_ENFORCE_DOMAIN,
            &one as *const c_int as *const std::os::raw::c_void,
            std::mem::size_of::<c_int>(),
        )
    };
    if rc != 0 {
        return Err(SecurityError::Zmq {
            what: "ZMQ_ZAP_ENFORCE_DOMAIN".into(),
            // SAFETY: zmq_errno only reads libzmq's thread-local errno.
            err: zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }),
        });
    }
    Ok(())
}

/// A CURVE client's keys: the server's public key plus its own key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeys {
    /// The public key of the server it connects to.
    pub server: PublicKey,
    /// Its own key pair (its public key is what the server's allow-list holds).
    pub keys: KeyPair,
}

impl ClientKeys {
    /// Parses the three Z85 strings of the worker configuration
    /// (`curve_server_key`, `curve_public_key`, `curve_secret_key`). Errors name the
    /// option, say what is wrong, and never repeat the secret key; a public key that
    /// does not belong to the secret key is an error too.
    pub fn from_z85(server: &str, public: &str, secret: &str) -> Result<ClientKeys, SecurityError> {
        let server = PublicKey::from_z85("curve_server_key", server)?;
        let public = PublicKey::from_z85("curve_public_key", public)?;
        let secret = SecretKey::from_z85("curve_secret_key", secret)?;
        if secret.public()? != public {
            return Err(SecurityError::BadKey {
                what: "curve_public_key".into(),
                reason: "does not belong to curve_secret_key".into(),
            });
        }
        Ok(ClientKeys {
            server,
            keys: KeyPair { public, secret },
        })
    }
}

/// Makes `sock` a CURVE client of the server whose public key is `k.server`. Call
/// before `connect`.
pub fn apply_client(sock: &zmq::Socket, k: &ClientKeys) -> Result<(), SecurityError> {
    sock.set_curve_serverkey(k.server.as_bytes())
        .map_err(opt_err("ZMQ_CURVE_SERVERKEY (is libzmq built with CURVE?)"))?;
    sock.set_curve_publickey(k.keys.public.as_bytes())
        .map_err(opt_err("ZMQ_CURVE_PUBLICKEY"))?;
    sock.set_curve_secretkey(k.keys.secret.as_bytes())
        .map_err(opt_err("ZMQ_CURVE_SECRETKEY"))?;
    Ok(())
}

/// The security of an adaptor's proxies (`--curve-secret`, `--curve-clients`,
/// `--curve-allow-any`, `--allow`): the server key pair its tcp sockets use and the
/// guard deciding who may connect. `Debug` never shows the secret key.
#[derive(Debug, Clone)]
pub struct ProxySecurity {
    /// The adaptor's key pair: tcp sockets become CURVE servers. `None`: the address
    /// allow-list alone (NULL mechanism, no encryption).
    pub curve: Option<KeyPair>,
    /// Who may connect; one [`Guard`] serves every proxy of the adaptor.
    pub guard: super::Guard,
}

impl ProxySecurity {
    /// Secures `sock` for `endpoint` before it binds or connects there: a tcp endpoint
    /// gets [`apply_server`] under ZAP domain `domain`; ipc and inproc endpoints are
    /// left alone (file permissions guard them). Returns whether it applied.
    pub fn apply(
        &self,
        sock: &mut zmq::Socket,
        endpoint: &str,
        domain: &str,
    ) -> Result<bool, SecurityError> {
        if !endpoint.starts_with("tcp://") {
            return Ok(false);
        }
        apply_server(
            sock,
            &ServerSecurity {
                curve: self.curve.clone(),
                zap_domain: domain.to_string(),
            },
        )?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_must_belong_together() {
        let (a, b, s) = (
            KeyPair::generate().unwrap(),
            KeyPair::generate().unwrap(),
            KeyPair::generate().unwrap(),
        );
        let z = |k: &SecretKey| zmq::z85_encode(k.as_bytes()).unwrap();
        let ok =
            ClientKeys::from_z85(&s.public.to_z85(), &a.public.to_z85(), &z(&a.secret)).unwrap();
        assert_eq!(ok.keys.public, a.public);
        let e = ClientKeys::from_z85(&s.public.to_z85(), &b.public.to_z85(), &z(&a.secret))
            .unwrap_err();
        assert!(e.to_string().contains("does not belong"), "{e}");
        let e = ClientKeys::from_z85("short", &a.public.to_z85(), &z(&a.secret)).unwrap_err();
        assert!(e.to_string().starts_with("curve_server_key:"), "{e}");
    }

    #[test]
    fn options_reach_the_socket() {
        let ctx = zmq::Context::new();
        let mut s = ctx.socket(zmq::XPUB).unwrap();
        let kp = KeyPair::generate().unwrap();
        apply_server(
            &mut s,
            &ServerSecurity {
                curve: Some(kp),
                zap_domain: "publish".into(),
            },
        )
        .unwrap();
        assert!(s.is_curve_server().unwrap());
        assert_eq!(s.get_zap_domain().unwrap().unwrap(), "publish");
    }
}
