//! The `Host` and `Origin` checks as tower layers: [`BoundsLayer::front`] on every route
//! (refuse a foreign `Host`, note the client address for the rate limits and caps further
//! in) and [`BoundsLayer::mcp_origin`] on the MCP endpoint (refuse a foreign browser
//! `Origin`).
//!
//! They run on every guarded MCP request, so they are plain services: the check happens in
//! `call`, and the answer is the inner service's own future or a ready refusal (nothing is
//! boxed or cloned per request, unlike `axum::middleware::from_fn`).

use super::Bounds;
use axum::extract::Request;
use axum::response::Response;
use futures_util::future::{Either, Ready, ready};
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Which check a [`BoundsLayer`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// `Host`, then the client address is noted (every route).
    Front,
    /// A browser `Origin` (the MCP endpoint).
    Origin,
}

/// A layer that refuses requests with a foreign `Host` or `Origin` (403).
#[derive(Clone)]
pub struct BoundsLayer {
    bounds: Arc<Bounds>,
    check: Check,
}

impl BoundsLayer {
    /// The outermost layer of every route: refuse a foreign `Host`, and note the client
    /// address ([`super::client_address_of`]) for the rate limits and caps further in.
    pub fn front(bounds: Arc<Bounds>) -> Self {
        Self {
            bounds,
            check: Check::Front,
        }
    }

    /// The MCP endpoint's layer: refuse a foreign browser `Origin`.
    pub fn mcp_origin(bounds: Arc<Bounds>) -> Self {
        Self {
            bounds,
            check: Check::Origin,
        }
    }
}

impl<S> Layer<S> for BoundsLayer {
    type Service = BoundsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BoundsService {
            inner,
            bounds: self.bounds.clone(),
            check: self.check,
        }
    }
}

/// The service of a [`BoundsLayer`].
#[derive(Clone)]
pub struct BoundsService<S> {
    inner: S,
    bounds: Arc<Bounds>,
    check: Check,
}

impl<S> Service<Request> for BoundsService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let hosts = self.bounds.hosts();
        let refused = match self.check {
            Check::Front => hosts.check_host(req.headers()),
            Check::Origin => hosts.check_origin(req.headers()),
        };
        if let Err(why) = refused {
            return Either::Left(ready(Ok(super::forbidden(&why))));
        }
        if self.check == Check::Front {
            let who = self.bounds.client_address(&req);
            req.extensions_mut().insert(who);
        }
        Either::Right(self.inner.call(req))
    }
}
