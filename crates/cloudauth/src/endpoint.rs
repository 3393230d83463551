//! Service endpoints: the four regions' public and VPC hosts (reference §3), or a custom URL
//! (a proxy, or the local emulator over plain HTTP when explicitly allowed).

use std::fmt;
use std::str::FromStr;

/// Product code that prefixes every endpoint host.
pub const ENDPOINT_PREFIX: &str = "cloudauth-intl";

/// A region serving `cloudauth-intl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// China (Hong Kong), `cn-hongkong`.
    CnHongkong,
    /// Singapore, `ap-southeast-1`.
    ApSoutheast1,
    /// Indonesia (Jakarta), `ap-southeast-5`.
    ApSoutheast5,
    /// Malaysia (Kuala Lumpur), `ap-southeast-3`.
    ApSoutheast3,
}

impl Region {
    /// Every region, in the reference's order.
    pub const ALL: [Region; 4] = [
        Region::CnHongkong,
        Region::ApSoutheast1,
        Region::ApSoutheast5,
        Region::ApSoutheast3,
    ];

    /// The region id, e.g. `cn-hongkong`.
    pub const fn id(self) -> &'static str {
        match self {
            Region::CnHongkong => "cn-hongkong",
            Region::ApSoutheast1 => "ap-southeast-1",
            Region::ApSoutheast5 => "ap-southeast-5",
            Region::ApSoutheast3 => "ap-southeast-3",
        }
    }

    /// The public endpoint host, `cloudauth-intl.<region>.aliyuncs.com`.
    pub fn public_host(self) -> String {
        format!("{ENDPOINT_PREFIX}.{}.aliyuncs.com", self.id())
    }

    /// The VPC (internal network) endpoint host, `cloudauth-intl-vpc.<region>.aliyuncs.com`.
    pub fn vpc_host(self) -> String {
        format!("{ENDPOINT_PREFIX}-vpc.{}.aliyuncs.com", self.id())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Region {
    type Err = EndpointError;

    /// Parses a region id (`cn-hongkong`, …); ASCII case and surrounding spaces are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Region::ALL
            .into_iter()
            .find(|r| r.id().eq_ignore_ascii_case(s))
            .ok_or(EndpointError::UnknownRegion)
    }
}

/// Why an endpoint could not be built. Never echoes the input (a URL may carry credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not one of the four region ids.
    #[error(
        "unknown region (expected cn-hongkong, ap-southeast-1, ap-southeast-5 or ap-southeast-3)"
    )]
    UnknownRegion,
    /// The URL does not parse.
    #[error("endpoint url does not parse")]
    InvalidUrl,
    /// The scheme is neither `https` nor (when allowed) `http`.
    #[error("endpoint url scheme must be https")]
    SchemeNotHttps,
    /// `http` was given but plain HTTP was not explicitly allowed.
    #[error("plain http endpoints are refused unless explicitly allowed")]
    HttpNotAllowed,
    /// The URL has no host.
    #[error("endpoint url has no host")]
    MissingHost,
    /// The URL carries a user name or password.
    #[error("endpoint url must not carry credentials")]
    HasCredentials,
    /// The URL has a path other than `/`, a query or a fragment (RPC calls go to `/`).
    #[error("endpoint url must not have a path, query or fragment")]
    HasPathOrQuery,
}

/// Where requests go: scheme, host and optional port, always with path `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    url: String,
    host_header: String,
    https: bool,
}

impl Endpoint {
    /// The region's public HTTPS endpoint.
    pub fn public(region: Region) -> Self {
        Self::https_host(region.public_host())
    }

    /// The region's VPC (internal network) HTTPS endpoint.
    pub fn vpc(region: Region) -> Self {
        Self::https_host(region.vpc_host())
    }

    fn https_host(host: String) -> Self {
        Endpoint {
            url: format!("https://{host}/"),
            host_header: host,
            https: true,
        }
    }

    /// A custom endpoint from a URL such as `https://proxy.example:8443` or
    /// `http://127.0.0.1:8080/`. HTTPS is required unless `allow_http` is set (for the local
    /// emulator). The URL must not carry credentials, a path other than `/`, a query or a
    /// fragment.
    pub fn custom(url: &str, allow_http: bool) -> Result<Self, EndpointError> {
        let parsed = url::Url::parse(url.trim()).map_err(|_| EndpointError::InvalidUrl)?;
        let https = match parsed.scheme() {
            "https" => true,
            "http" if allow_http => false,
            "http" => return Err(EndpointError::HttpNotAllowed),
            _ => return Err(EndpointError::SchemeNotHttps),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(EndpointError::HasCredentials);
        }
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(EndpointError::HasPathOrQuery);
        }
        if parsed.fragment().is_some() {
            return Err(EndpointError::HasPathOrQuery);
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(EndpointError::MissingHost)?;
        // `Url::port` is `None` for the scheme's default port, exactly as HTTP clients then
        // omit it from the `host` header.
        let host_header = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let scheme = if https { "https" } else { "http" };
        Ok(Endpoint {
            url: format!("{scheme}://{host_header}/"),
            host_header,
            https,
        })
    }

    /// Parses configuration text: a region id (`cn-hongkong` → public endpoint), a region id
    /// with `-vpc` (`cn-hongkong-vpc` → VPC endpoint), a URL (see [`Endpoint::custom`]), or a
    /// bare host name such as `cloudauth-intl.cn-hongkong.aliyuncs.com` (HTTPS, as the official
    /// SDKs' `endpoint` setting).
    pub fn parse(s: &str, allow_http: bool) -> Result<Self, EndpointError> {
        let s = s.trim();
        if s.contains("://") {
            return Self::custom(s, allow_http);
        }
        if let Some(region) = s.strip_suffix("-vpc") {
            return Ok(Self::vpc(region.parse()?));
        }
        if let Ok(region) = s.parse::<Region>() {
            return Ok(Self::public(region));
        }
        if s.contains('.') {
            return Self::custom(&format!("https://{s}"), false);
        }
        Err(EndpointError::UnknownRegion)
    }

    /// The base URL, `scheme://host[:port]/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `host` header value (and V3 signed `host`): `host[:port]`, the port only when it is
    /// not the scheme's default.
    pub fn host_header(&self) -> &str {
        &self.host_header
    }

    /// Whether the endpoint uses HTTPS.
    pub fn is_https(&self) -> bool {
        self.https
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    /// [`Endpoint::parse`] with plain HTTP refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_eight_hosts() {
        let expected = [
            (
                "cn-hongkong",
                "cloudauth-intl.cn-hongkong.aliyuncs.com",
                "cloudauth-intl-vpc.cn-hongkong.aliyuncs.com",
            ),
            (
                "ap-southeast-1",
                "cloudauth-intl.ap-southeast-1.aliyuncs.com",
                "cloudauth-intl-vpc.ap-southeast-1.aliyuncs.com",
            ),
            (
                "ap-southeast-5",
                "cloudauth-intl.ap-southeast-5.aliyuncs.com",
                "cloudauth-intl-vpc.ap-southeast-5.aliyuncs.com",
            ),
            (
                "ap-southeast-3",
                "cloudauth-intl.ap-southeast-3.aliyuncs.com",
                "cloudauth-intl-vpc.ap-southeast-3.aliyuncs.com",
            ),
        ];
        for (id, public, vpc) in expected {
            let region: Region = id.parse().unwrap();
            assert_eq!(region.to_string(), id);
            let p = Endpoint::public(region);
            assert_eq!(p.host_header(), public);
            assert_eq!(p.url(), format!("https://{public}/"));
            assert!(p.is_https());
            let v = Endpoint::vpc(region);
            assert_eq!(v.host_header(), vpc);
            assert_eq!(v.url(), format!("https://{vpc}/"));
            assert_eq!(Endpoint::parse(id, false).unwrap(), p);
            assert_eq!(Endpoint::parse(&format!("{id}-vpc"), false).unwrap(), v);
            assert_eq!(Endpoint::parse(public, false).unwrap(), p);
        }
        assert_eq!(Region::ALL.len(), 4);
    }

    #[test]
    fn region_parse_is_lenient_on_case_and_strict_on_ids() {
        assert_eq!(" CN-HongKong ".parse::<Region>(), Ok(Region::CnHongkong));
        assert_eq!(
            "cn-hangzhou".parse::<Region>(),
            Err(EndpointError::UnknownRegion)
        );
        assert_eq!("".parse::<Region>(), Err(EndpointError::UnknownRegion));
        assert_eq!(
            Endpoint::parse("cn-hangzhou-vpc", false),
            Err(EndpointError::UnknownRegion)
        );
        assert_eq!(
            Endpoint::parse("nonsense", false),
            Err(EndpointError::UnknownRegion)
        );
    }

    #[test]
    fn custom_https_with_and_without_port() {
        let e = Endpoint::custom("https://proxy.example.com:8443", false).unwrap();
        assert_eq!(e.url(), "https://proxy.example.com:8443/");
        assert_eq!(e.host_header(), "proxy.example.com:8443");
        let e = Endpoint::custom("https://Proxy.Example.com:443/", false).unwrap();
        assert_eq!(e.url(), "https://proxy.example.com/");
        assert_eq!(e.host_header(), "proxy.example.com");
        assert_eq!(
            "https://x.example"
                .parse::<Endpoint>()
                .unwrap()
                .host_header(),
            "x.example"
        );
    }

    #[test]
    fn http_refused_unless_allowed() {
        assert_eq!(
            Endpoint::custom("http://127.0.0.1:8080", false),
            Err(EndpointError::HttpNotAllowed)
        );
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:8080", false),
            Err(EndpointError::HttpNotAllowed)
        );
        let e = Endpoint::custom("http://127.0.0.1:8080/", true).unwrap();
        assert!(!e.is_https());
        assert_eq!(e.url(), "http://127.0.0.1:8080/");
        assert_eq!(e.host_header(), "127.0.0.1:8080");
        let e = Endpoint::custom("http://localhost:80", true).unwrap();
        assert_eq!(e.host_header(), "localhost");
        let e = Endpoint::custom("http://[::1]:9000", true).unwrap();
        assert_eq!(e.host_header(), "[::1]:9000");
    }

    #[test]
    fn custom_rejects_bad_urls_without_echoing_them() {
        assert_eq!(
            Endpoint::custom("ftp://x.example", true),
            Err(EndpointError::SchemeNotHttps)
        );
        assert_eq!(
            Endpoint::custom("not a url", true),
            Err(EndpointError::InvalidUrl)
        );
        let err = Endpoint::custom("https://user:hunter2@x.example", false).unwrap_err();
        assert_eq!(err, EndpointError::HasCredentials);
        assert!(!err.to_string().contains("hunter2"));
        assert_eq!(
            Endpoint::custom("https://x.example/api", false),
            Err(EndpointError::HasPathOrQuery)
        );
        assert_eq!(
            Endpoint::custom("https://x.example/?a=b", false),
            Err(EndpointError::HasPathOrQuery)
        );
        assert_eq!(
            Endpoint::custom("https://x.example/#f", false),
            Err(EndpointError::HasPathOrQuery)
        );
    }
}
