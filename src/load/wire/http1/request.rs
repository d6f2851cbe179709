//! What an HTTP/1.1 request is made of, each part checked once before the
//! run: the `--url` (plain `http://`, loopback only), the `--method`, every
//! `--header`, the `--body`; then the request encoded once, sent as is.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use super::super::RequestError;

/// What a `--url` names: where to connect, and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    addr: SocketAddr,
    /// The `Host` header: the URL's host and port as written.
    host: String,
    /// The request target: path and query, `/` when the URL has none.
    path: String,
}

impl Url {
    /// Parse `http://HOST[:PORT][/PATH]`: HOST an IP literal (IPv6 in
    /// brackets) or `localhost`, on loopback (127.0.0.0/8 or ::1), PORT 80
    /// when absent. A `#fragment` is dropped, as browsers do.
    pub fn parse(url: &str) -> Result<Url, RequestError> {
        let supported = "sockbench loads http://HOST:PORT/PATH with HOST 127.0.0.1 \
                         (any of 127.0.0.0/8), [::1] or localhost";
        let Some(rest) = url.strip_prefix("http://") else {
            let why = if url.starts_with("https://") {
                "https is not supported"
            } else {
                "not an http:// URL"
            };
            return Err(RequestError::new(format!(
                "--url {url}: {why}: {supported}"
            )));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('?') => (&rest[..at], format!("/{}", &rest[at..])),
            Some(at) => (&rest[..at], rest[at..].to_string()),
            None => (rest, "/".to_string()),
        };
        let refuse = |why: &str| {
            Err(RequestError::new(format!(
                "--url {url}: {why}: {supported}"
            )))
        };
        if authority.contains('@') {
            return refuse("user names in URLs are not supported");
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((host, "")) => (host, None),
                Some((host, port)) if port.starts_with(':') => (host, Some(&port[1..])),
                _ => return refuse("the IPv6 address's brackets are not closed"),
            },
            None if authority.matches(':').count() > 1 => {
                return refuse("an IPv6 address needs brackets, as in [::1]")
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            None => 80,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return refuse(&format!("port {port:?} is not a number from 1 to 65535")),
            },
        };
        let ip = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            match host.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => {
                    return refuse(&format!("host {host:?} is not an IP literal or localhost"))
                }
            }
        };
        if !ip.is_loopback() {
            return refuse(&format!("{ip} is not a loopback address"));
        }
        if let Some(bad) = path.bytes().find(|byte| !byte.is_ascii_graphic()) {
            return refuse(&format!(
                "the path has byte {bad:#04x} (a space, control or non-ASCII byte): percent-encode it"
            ));
        }
        Ok(Url {
            addr: SocketAddr::new(ip, port),
            host: authority.to_string(),
            path,
        })
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The request target: path and query.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// The request methods sockbench sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`: the default.
    Get,
    /// `HEAD`: the same answer without its body.
    Head,
    /// `POST`, with `--body` (or an empty one).
    Post,
}

impl Method {
    /// The method as sent: `GET`, `HEAD`, `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
        }
    }
}

impl FromStr for Method {
    type Err = RequestError;

    /// `GET`, `HEAD` or `POST`, in any case.
    fn from_str(text: &str) -> Result<Method, RequestError> {
        [Method::Get, Method::Head, Method::Post]
            .into_iter()
            .find(|method| method.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                RequestError::new(format!(
                    "--method {text:?} is not supported: give GET, HEAD or POST"
                ))
            })
    }
}

/// Encode the request for `method` on `url`, with `headers` (each
/// `Name: value`; a `Host` replaces the URL's) and `body` (POST only;
/// sent with its `Content-Length`).
pub(super) fn encode(
    method: Method,
    url: &Url,
    headers: &[String],
    body: Option<&[u8]>,
) -> Result<Vec<u8>, RequestError> {
    if body.is_some() && method != Method::Post {
        return Err(RequestError::new(format!(
            "--body is sent with POST only: add --method POST, or drop --body for {}",
            method.as_str()
        )));
    }
    let headers = headers
        .iter()
        .map(|header| parse_header(header))
        .collect::<Result<Vec<_>, _>>()?;
    let mut head = format!("{} {} HTTP/1.1\r\n", method.as_str(), url.path);
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        write!(head, "Host: {}\r\n", url.host).expect("writing to a String cannot fail");
    }
    for (name, value) in &headers {
        write!(head, "{name}: {value}\r\n").expect("writing to a String cannot fail");
    }
    if method == Method::Post {
        let len = body.map_or(0, <[u8]>::len);
        write!(head, "Content-Length: {len}\r\n").expect("writing to a String cannot fail");
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body.unwrap_or_default());
    Ok(request)
}

/// Split a `--header 'Name: value'`: the name a token, the value without
/// line breaks, and no framing header (sockbench frames the body itself).
fn parse_header(header: &str) -> Result<(&str, &str), RequestError> {
    let refuse = |why: &str| {
        Err(RequestError::new(format!(
            "--header {header:?}: {why}: give 'Name: value'"
        )))
    };
    let Some((name, value)) = header.split_once(':') else {
        return refuse("no colon");
    };
    let value = value.trim_matches([' ', '\t']);
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return refuse("the name is empty or has a byte a header name cannot have");
    }
    if value
        .bytes()
        .any(|byte| byte.is_ascii_control() && byte != b'\t')
    {
        return refuse("the value has a line break or control byte");
    }
    if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding")
    {
        return refuse(
            "sockbench frames the body itself (--body gives it, with its Content-Length)",
        );
    }
    Ok((name, value))
}

/// A byte of an HTTP token (RFC 9110 `tchar`): header names, chunk
/// extension names.
pub(super) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        Url::parse(url).unwrap_err().to_string()
    }

    /// IP literals and localhost on loopback, with or without port and path.
    #[test]
    fn loopback_urls_are_parsed() {
        let url = Url::parse("http://127.0.0.1:8080/a/b?c=d#top").unwrap();
        assert_eq!(url.addr(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            (url.host.as_str(), url.path()),
            ("127.0.0.1:8080", "/a/b?c=d")
        );
        let url = Url::parse("http://[::1]:9000").unwrap();
        assert_eq!(
            (url.addr(), url.path()),
            ("[::1]:9000".parse().unwrap(), "/")
        );
        let url = Url::parse("http://localhost?q").unwrap();
        assert_eq!(
            (url.addr(), url.path()),
            ("127.0.0.1:80".parse().unwrap(), "/?q")
        );
        assert!(Url::parse("http://127.1.2.3:1/").is_ok());
    }

    /// Everything else gets one line saying what is supported.
    #[test]
    fn other_urls_are_refused_with_what_is_supported() {
        for (url, why) in [
            ("https://127.0.0.1/", "https is not supported"),
            ("ftp://127.0.0.1/", "not an http:// URL"),
            ("http://example.com/", "not an IP literal or localhost"),
            ("http://10.0.0.1:80/", "10.0.0.1 is not a loopback address"),
            ("http://[2001:db8::1]/", "is not a loopback address"),
            ("http://::1:80/", "needs brackets"),
            ("http://[::1/", "brackets are not closed"),
            ("http://127.0.0.1:0/", "not a number from 1 to 65535"),
            ("http://127.0.0.1:http/", "not a number from 1 to 65535"),
            ("http://me@127.0.0.1/", "user names"),
            ("http://127.0.0.1/a b", "percent-encode"),
        ] {
            let message = refused(url);
            assert!(message.contains(why), "{url}: {message}");
            assert!(message.contains("sockbench loads http://"), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    /// A GET has a Host; a POST its Content-Length and body; a given Host
    /// replaces the URL's.
    #[test]
    fn requests_are_encoded_with_host_and_length() {
        let url = Url::parse("http://127.0.0.1:8080/x").unwrap();
        let get = encode(Method::Get, &url, &["Accept: */*".into()], None).unwrap();
        assert_eq!(
            get,
            b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n"
        );
        let post = encode(Method::Post, &url, &["host:  other ".into()], Some(b"hi")).unwrap();
        assert_eq!(
            post,
            b"POST /x HTTP/1.1\r\nhost: other\r\nContent-Length: 2\r\n\r\nhi"
        );
        let empty_post = encode(Method::Post, &url, &[], None).unwrap();
        assert!(empty_post.ends_with(b"Content-Length: 0\r\n\r\n"));
    }

    /// Bad headers, framing headers, and a body without POST are refused.
    #[test]
    fn requests_that_cannot_be_sent_are_refused() {
        let url = Url::parse("http://127.0.0.1/").unwrap();
        for header in [
            "NoColon",
            ": empty",
            "Bad Name: v",
            "X: a\r\nY: b",
            "Content-Length: 3",
        ] {
            assert!(
                encode(Method::Get, &url, &[header.into()], None).is_err(),
                "{header}"
            );
        }
        let body_on_get = encode(Method::Get, &url, &[], Some(b"x")).unwrap_err();
        assert!(body_on_get.to_string().contains("--method POST"));
        assert_eq!("head".parse::<Method>().unwrap(), Method::Head);
        assert!("PUT".parse::<Method>().is_err());
    }
}
