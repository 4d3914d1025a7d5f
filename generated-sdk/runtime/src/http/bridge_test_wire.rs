//! A contract's HTTP stream in miniature, for the runtime's own tests.

use bytes::Bytes;

use super::{Header, Init, ResponseParts, Wire};

/// A contract's stream, in miniature: the bridge sees only `Wire`.
pub(crate) struct TestWire;

#[derive(Debug, Default)]
pub(crate) struct Request {
    pub(crate) init: Option<Init<String>>,
    pub(crate) chunk: Bytes,
    pub(crate) complete: bool,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Response {
    Init(u16, Vec<Header>),
    Chunk { chunk: Bytes, flush: bool, complete: bool },
}

impl Wire for TestWire {
    const HOOK: &'static str = "ServeHTTP";
    type Request = Request;
    type Response = Response;
    type Context = String;

    fn request_parts(message: Request) -> (Option<Init<String>>, Bytes, bool) {
        (message.init, message.chunk, message.complete)
    }

    fn response_init(status: u16, headers: Vec<Header>) -> Response {
        Response::Init(status, headers)
    }

    fn response_chunk(chunk: Bytes, flush: bool, complete: bool) -> Response {
        Response::Chunk { chunk, flush, complete }
    }

    fn request_message(init: Option<Init<String>>, chunk: Bytes, complete: bool) -> Request {
        Request { init, chunk, complete }
    }

    fn response_parts(message: Response) -> ResponseParts {
        match message {
            Response::Init(status, headers) => {
                ResponseParts { init: Some((i32::from(status), headers)), ..Default::default() }
            }
            Response::Chunk { chunk, flush, complete } => ResponseParts { init: None, chunk, flush, complete },
        }
    }
}
