//! OTLP over gRPC: the `TraceService/Export` method (and the logs and
//! metrics twins, accepted and not used), served on the hub's own port
//! beside the HTTP routes and on `serve --otlp-grpc-listen`.
//!
//! The same token, role and mapping as `POST /v1/traces`: the token comes
//! from the `authorization` metadata (`Bearer <token>`), refusals become
//! the gRPC status codes of [`super::otlp::grpc_code`], and gzip is
//! accepted as exporters send it, bounded by the body limit after
//! inflation. Traces go through [`TraceExport`] rather than the generated
//! server, whose codec hands the bytes straight to prost: ours checks the
//! export's shape on the wire first ([`crate::ingest::otlp::proto`]), as
//! the HTTP path does, so a message of empty spans cannot make prost
//! allocate a hundred times its size.

use chrono::Utc;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::model::role::Permission;

use super::super::auth::Principal;
use super::super::error::ApiError;
use crate::ingest::otlp::Export;

use super::super::intake::PartialSuccess;
use super::AppState;
use super::extract::{bearer_caller, require};
use super::otlp::grpc_code;

/// The OTLP collector services, answering from the hub's state.
#[derive(Clone)]
pub struct Otlp {
    state: AppState,
}

/// An axum router serving the three OTLP services: merged into the hub's
/// router, and served alone on the gRPC port.
pub fn router(state: AppState) -> axum::Router {
    let limit = state.max_body_bytes;
    let otlp = Otlp { state };
    let traces = TraceExport {
        otlp: otlp.clone(),
        limit,
    };
    let logs = LogsServiceServer::new(otlp.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let metrics = MetricsServiceServer::new(otlp)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    tonic::service::Routes::new(traces)
        .add_service(logs)
        .add_service(metrics)
        .into_axum_router()
}

/// A refusal as a gRPC status.
fn status(e: ApiError) -> Status {
    Status::new(grpc_code(e.status()), e.body().error)
}

impl Otlp {
    /// The caller, from the `authorization` metadata, with the ingest role.
    fn caller<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let who = bearer_caller(&self.state, header).map_err(status)?;
        require(&who, Permission::Ingest, "sending telemetry").map_err(status)?;
        Ok(who)
    }
}

#[tonic::async_trait]
impl TraceService for Otlp {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let who = self.caller(&request)?;
        let hub = &self.state;
        let _slot = hub.ingest_slot().await.map_err(status)?;
        let now = Utc::now();
        let request = request.into_inner();
        let export = tokio::task::spawn_blocking(move || Export::from_decoded(request))
            .await
            .map_err(|e| Status::internal(format!("trace decoder failed: {e}")))?;
        let PartialSuccess { rejected, message } = hub
            .with_core(move |core| core.ingest_traces(&who, export, now))
            .await
            .and_then(|r| r.map_err(ApiError::from))
            .map_err(status)?;
        let whole = rejected == 0 && message.is_empty();
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (!whole).then(|| ExportTracePartialSuccess {
                rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
                error_message: message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Otlp {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.caller(&request)?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 0,
                error_message: super::super::intake::unused_message("logs"),
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Otlp {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.caller(&request)?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 0,
                error_message: super::super::intake::unused_message("metrics"),
            }),
        }))
    }
}

/// `TraceService/Export`, served with [`ShapedCodec`].
#[derive(Clone)]
struct TraceExport {
    otlp: Otlp,
    /// Largest message accepted, after inflation.
    limit: usize,
}

/// The method's full path.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

impl tonic::server::NamedService for TraceExport {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> tonic::codegen::Service<tonic::codegen::http::Request<B>> for TraceExport
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = tonic::codegen::http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::codegen::http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if request.uri().path() != EXPORT_PATH {
                return Ok(Status::unimplemented("TraceService has one method, Export").into_http());
            }
            let mut accept = tonic::codec::EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let mut grpc = tonic::server::Grpc::new(ShapedCodec)
                .apply_compression_config(accept, Default::default())
                .apply_max_message_size_config(Some(this.limit), None);
            Ok(grpc.unary(this, request).await)
        })
    }
}

impl tonic::server::UnaryService<ExportTraceServiceRequest> for TraceExport {
    type Response = ExportTraceServiceResponse;
    type Future = tonic::codegen::BoxFuture<Response<Self::Response>, Status>;

    fn call(&mut self, request: Request<ExportTraceServiceRequest>) -> Self::Future {
        let otlp = self.otlp.clone();
        Box::pin(async move { TraceService::export(&otlp, request).await })
    }
}

/// Protobuf for `TraceService/Export`, with the wire-format shape check
/// before prost decodes a request.
struct ShapedCodec;

impl tonic::codec::Codec for ShapedCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = ExportTraceServiceRequest;
    type Encoder = ShapedCodec;
    type Decoder = ShapedCodec;

    fn encoder(&mut self) -> Self::Encoder {
        ShapedCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        ShapedCodec
    }
}

impl tonic::codec::Encoder for ShapedCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(
        &mut self,
        item: Self::Item,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        prost::Message::encode(&item, dst).map_err(|e| Status::internal(e.to_string()))
    }
}

impl tonic::codec::Decoder for ShapedCodec {
    type Item = ExportTraceServiceRequest;
    type Error = Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Self::Item>, Status> {
        use prost::bytes::Buf;
        let bytes = src.copy_to_bytes(src.remaining());
        crate::ingest::otlp::proto::decode(&bytes)
            .map(Some)
            .map_err(Status::invalid_argument)
    }
}
