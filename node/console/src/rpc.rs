//! Calls into the local API in-process, as the person of the request: each request carries
//! the browser connection's information, so the local API's gate, role table, revocation
//! check and authentication decide exactly as they do for the CLI.

use crate::app::Api;
use crate::ctx::Ctx;
use hfx_proto::v1 as pb;

impl Ctx {
    /// `msg` as a local-API request of this person.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.extensions_mut().insert(self.info.clone());
        r
    }

    pub fn clerk(&self) -> pb::clerk_client::ClerkClient<Api> {
        pb::clerk_client::ClerkClient::new(self.console.api.clone())
    }

    pub fn audit(&self) -> pb::audit_client::AuditClient<Api> {
        pb::audit_client::AuditClient::new(self.console.api.clone())
    }

    pub fn operator(&self) -> pb::operator_client::OperatorClient<Api> {
        pb::operator_client::OperatorClient::new(self.console.api.clone())
            .max_decoding_message_size(64 << 20)
    }

    pub fn duplicates(&self) -> pb::duplicates_client::DuplicatesClient<Api> {
        pb::duplicates_client::DuplicatesClient::new(self.console.api.clone())
    }
}
