//! Client for Alibaba Cloud ID Verification (`cloudauth-intl`, API version `2022-08-09`):
//! the `CheckResult` operation, and nothing about archiving.
//!
//! - [`sign`]: V2 and V3 request signing as pure functions;
//! - [`credentials`]: access keys from the environment or files, never printed;
//! - [`endpoint`]: regions, public and VPC hosts, custom URLs;
//! - [`request`]: the validated `CheckResult` request;
//! - [`model`]: the lossless response model, document types, products and `SubCode`s;
//! - [`error`]: errors and their [`ErrorClass`];
//! - [`client`]: signing whole requests, the shared QPS limit, retries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cloudauth::Error> {
//! use cloudauth::{CheckResultRequest, Client, ClientConfig, Credentials, Endpoint, Region};
//!
//! let credentials = Credentials::from_env()?;
//! let client = Client::new(ClientConfig::new(Endpoint::public(Region::CnHongkong), credentials))?;
//! let req = CheckResultRequest::new("e0c34a77f5ac40a5aa5e6ed20c350001", "hksb7ba1b28130d24e015d694361bee4")?
//!     .return_image(true);
//! let result = client.check_result(&req).await?;
//! let _passed = result.passed();
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod model;
pub mod request;
pub mod sign;

pub use model::subcode;

pub use client::{
    Client, ClientConfig, Clock, Observer, RetryPolicy, SignatureScheme, SignedRequest,
    signed_request,
};
pub use credentials::{Credentials, CredentialsError};
pub use endpoint::{Endpoint, EndpointError, Region};
pub use error::{Error, ErrorClass};
pub use model::{
    CheckResult, CheckResultResponse, CheckResultResult, DocumentType, ExtFaceInfo, ExtIdInfo,
    OcrIdBackInfo, OcrIdInfo, Product, SpoofInfo, sub_code_meaning,
};
pub use request::{CheckResultRequest, InvalidRequest};
