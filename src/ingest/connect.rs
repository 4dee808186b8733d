//! Reaching a logged-in session: TCP, TLS (rustls; implicit, or after STARTTLS, with the
//! operating system's trust store or only a private CA), the server greeting, then LOGIN or
//! `AUTHENTICATE XOAUTH2`. Every step is bounded by `imap.connect_timeout` or
//! `imap.command_timeout`: async-imap waits forever on a silent server.

use std::fmt::Debug;
use std::sync::Arc;

use async_imap::{Client, Session};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use rustls_platform_verifier::BuilderVerifierExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::IngestError;
use crate::config::{Imap, TlsMode};
use crate::oauth2::{AccessToken, ImapXOAuth2, Login, TokenSource};

/// A byte stream async-imap can run on: plain TCP or TLS over it.
pub trait ImapStream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> ImapStream for T {}

/// A logged-in IMAP session over either kind of stream.
pub type ImapSession = Session<Box<dyn ImapStream>>;

/// The rustls client configuration: the operating system's trust store, the same one SMTP
/// (lettre's platform verifier) uses, or only the CAs in `ca_file`.
///
/// On Linux the store is read when the configuration is built (at each connect), from
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` if either is set, otherwise from the system's bundle
/// (`/etc/ssl/certs` on Debian, kept by `ca-certificates` and `update-ca-certificates`).
pub fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match ca_file {
        Some(path) => builder.with_root_certificates(private_roots(path)?),
        None => builder
            .with_platform_verifier()
            .map_err(|e| format!("the system's certificate store: {e}"))?,
    };
    Ok(Arc::new(builder.with_no_client_auth()))
}

/// Every CA certificate in the PEM file `path`: the only roots trusted when it is set.
fn private_roots(path: &std::path::Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("reading {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("certificate in {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// TLS over `stream` for `cfg.host`, with the roots of [`tls_config`]; bounded by
/// `connect_timeout`.
async fn tls_wrap<S: AsyncRead + AsyncWrite + Unpin + Send + Debug + 'static>(
    cfg: &Imap,
    stream: S,
) -> Result<Box<dyn ImapStream>, IngestError> {
    let err = |detail: String| IngestError::Connect {
        host: cfg.host.clone(),
        port: cfg.port,
        detail,
    };
    let tls = tls_config(cfg.ca_file.as_deref()).map_err(err)?;
    let name = ServerName::try_from(cfg.host.clone()).map_err(|e| err(e.to_string()))?;
    let stream = tokio::time::timeout(
        cfg.connect_timeout,
        TlsConnector::from(tls).connect(name, stream),
    )
    .await
    .map_err(|_| IngestError::Timeout("TLS handshake"))?
    .map_err(|e| err(format!("TLS: {e}")))?;
    Ok(Box::new(stream))
}

/// Reads the server's greeting (async-imap leaves that to us), bounded by `connect_timeout`.
async fn read_greeting(
    cfg: &Imap,
    client: &mut Client<Box<dyn ImapStream>>,
) -> Result<(), IngestError> {
    match tokio::time::timeout(cfg.connect_timeout, client.read_response()).await {
        Err(_) => Err(IngestError::Timeout("greeting")),
        Ok(Err(e)) => Err(IngestError::Connect {
            host: cfg.host.clone(),
            port: cfg.port,
            detail: e.to_string(),
        }),
        Ok(Ok(None)) => Err(IngestError::Connect {
            host: cfg.host.clone(),
            port: cfg.port,
            detail: "connection closed before the greeting".into(),
        }),
        Ok(Ok(Some(_))) => Ok(()),
    }
}

/// Connects, secures and logs in as configured, with `creds` made from `cfg.auth`.
pub async fn connect(cfg: &Imap, creds: &Login) -> Result<ImapSession, IngestError> {
    let tcp = tokio::time::timeout(
        cfg.connect_timeout,
        TcpStream::connect((cfg.host.as_str(), cfg.port)),
    )
    .await
    .map_err(|_| IngestError::Timeout("connect"))?
    .map_err(|e| IngestError::Connect {
        host: cfg.host.clone(),
        port: cfg.port,
        detail: e.to_string(),
    })?;
    let _ = tcp.set_nodelay(true);
    let mut client = match cfg.tls {
        TlsMode::Implicit => Client::new(tls_wrap(cfg, tcp).await?),
        TlsMode::None => Client::new(Box::new(tcp) as Box<dyn ImapStream>),
        TlsMode::Starttls => {
            let mut plain = Client::new(Box::new(tcp) as Box<dyn ImapStream>);
            read_greeting(cfg, &mut plain).await?;
            // A server without STARTTLS answers BAD or NO: we stop there, never in plaintext.
            match tokio::time::timeout(
                cfg.command_timeout,
                plain.run_command_and_check_ok("STARTTLS", None),
            )
            .await
            {
                Err(_) => return Err(IngestError::Timeout("STARTTLS")),
                Ok(Err(async_imap::error::Error::Bad(_) | async_imap::error::Error::No(_))) => {
                    return Err(IngestError::NoStarttls);
                }
                Ok(Err(e)) => return Err(IngestError::Imap("STARTTLS", e)),
                Ok(Ok(())) => {}
            }
            let secured = tls_wrap(cfg, plain.into_inner()).await?;
            // After STARTTLS there is no second greeting (RFC 3501 §6.2.1).
            let client = Client::new(secured);
            return login(cfg, creds, client).await;
        }
    };
    read_greeting(cfg, &mut client).await?;
    login(cfg, creds, client).await
}

/// LOGIN with the password, or XOAUTH2 with a token from the configured token source.
async fn login(
    cfg: &Imap,
    creds: &Login,
    client: Client<Box<dyn ImapStream>>,
) -> Result<ImapSession, IngestError> {
    let password = match creds {
        Login::Password(password) => password,
        Login::OAuth2(source) => return xoauth2_login(cfg, source, client).await,
    };
    match tokio::time::timeout(
        cfg.command_timeout,
        client.login(&cfg.username, password.expose()),
    )
    .await
    {
        Err(_) => Err(IngestError::Timeout("LOGIN")),
        Ok(Err((e, _))) => Err(IngestError::Login {
            user: cfg.username.clone(),
            detail: e.to_string(),
        }),
        Ok(Ok(session)) => Ok(session),
    }
}

/// `AUTHENTICATE XOAUTH2` with a token from the command. A refused token (it may have been
/// revoked, or the command printed one that had expired) is dropped and the command run
/// again, once per connection attempt; a second refusal is the caller's to back off from.
async fn xoauth2_login(
    cfg: &Imap,
    source: &TokenSource,
    client: Client<Box<dyn ImapStream>>,
) -> Result<ImapSession, IngestError> {
    let token = source.token().await?;
    let client = match authenticate(cfg, client, &token).await? {
        Authenticated::Yes(session) => return Ok(session),
        Authenticated::Refused(_, client) => client,
    };
    source.reject(&token).await;
    let token = source.token().await?;
    match authenticate(cfg, client, &token).await? {
        Authenticated::Yes(session) => Ok(session),
        Authenticated::Refused(detail, _) => {
            source.reject(&token).await;
            Err(IngestError::Login {
                user: cfg.username.clone(),
                detail: format!(
                    "AUTHENTICATE XOAUTH2 answered NO ({detail}), also with the token of a fresh run of {}",
                    source.key()
                ),
            })
        }
    }
}

/// How one `AUTHENTICATE XOAUTH2` ended, short of a connection failure.
enum Authenticated {
    Yes(ImapSession),
    /// The server answered NO (with this text): the token was not accepted.
    Refused(String, Client<Box<dyn ImapStream>>),
}

/// One `AUTHENTICATE XOAUTH2` with `token`.
async fn authenticate(
    cfg: &Imap,
    client: Client<Box<dyn ImapStream>>,
    token: &AccessToken,
) -> Result<Authenticated, IngestError> {
    let auth = ImapXOAuth2::new(&cfg.username, token);
    // A server that sends an untagged line before its `+` leaves async-imap waiting for a
    // continuation forever: only this timeout ends that.
    match tokio::time::timeout(cfg.command_timeout, client.authenticate("XOAUTH2", auth)).await {
        Err(_) => Err(IngestError::Timeout("AUTHENTICATE XOAUTH2")),
        Ok(Ok(session)) => Ok(Authenticated::Yes(session)),
        Ok(Err((async_imap::error::Error::No(text), client))) => {
            Ok(Authenticated::Refused(text, client))
        }
        Ok(Err((e, _))) => Err(IngestError::Login {
            user: cfg.username.clone(),
            detail: format!("AUTHENTICATE XOAUTH2: {e}"),
        }),
    }
}
