//! The client stream beneath HTTP, as every server of the project (the web proxy, the
//! WAF, the API and console) wraps it: the lingering close that lets an early answer
//! reach the client (`linger`), and the watch on HTTP/1.1 framing that sees what the
//! HTTP library hides once it has parsed a head (`framing`).
//!
//! Must not: answer or decide anything itself; it reports, and the servers decide.

pub mod framing;
pub mod linger;

pub use framing::{Framing, FramingWatch, Watched};
pub use linger::Lingering;

/// The writing half of a stream wrapper that passes every write, flush and vectored
/// write to its `inner` field (the wrappers here watch or delay reads and shutdowns,
/// never writes). `shutdown` is passed too unless the wrapper writes its own.
#[macro_export]
macro_rules! write_through {
    () => {
        $crate::write_through!(@writes);
        fn poll_shutdown(
            mut self: ::std::pin::Pin<&mut Self>,
            cx: &mut ::std::task::Context<'_>,
        ) -> ::std::task::Poll<::std::io::Result<()>> {
            ::std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    };
    (@writes) => {
        fn poll_write(
            mut self: ::std::pin::Pin<&mut Self>,
            cx: &mut ::std::task::Context<'_>,
            buf: &[u8],
        ) -> ::std::task::Poll<::std::io::Result<usize>> {
            ::std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            mut self: ::std::pin::Pin<&mut Self>,
            cx: &mut ::std::task::Context<'_>,
            bufs: &[::std::io::IoSlice<'_>],
        ) -> ::std::task::Poll<::std::io::Result<usize>> {
            ::std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.inner.is_write_vectored()
        }

        fn poll_flush(
            mut self: ::std::pin::Pin<&mut Self>,
            cx: &mut ::std::task::Context<'_>,
        ) -> ::std::task::Poll<::std::io::Result<()>> {
            ::std::pin::Pin::new(&mut self.inner).poll_flush(cx)
        }
    };
}
