//! A response body streamed page by page from Postgres: the link export and the raw-click
//! export. Each page is one keyset query (`after` the last row of the page before, so every
//! page costs the same), rendered into a chunk as soon as it is read; a page shorter than the
//! page size is the last. A database failure mid-way ends the body with an error (the client
//! sees a truncated response, never a silently short one) and is logged.

use actix_web::web::{self, Bytes};
use futures_util::{stream, Stream};
use ghostlink_db::{Conn, DbError};
use ghostlink_web::ApiError;

use crate::{db_error, Shared};

/// Where a stream stands between pages.
struct Page<K> {
    after: Option<K>,
    first: bool,
    done: bool,
}

/// Streams pages of up to `size` rows: `fetch(conn, after)` reads the rows after key `after`
/// (`None`: from the start), `key` names a row's key, `render(first, last, rows)` makes a chunk.
pub(crate) fn pages<K, T, F, G, R>(
    shared: web::Data<Shared>,
    what: &'static str,
    size: usize,
    fetch: F,
    key: G,
    render: R,
) -> impl Stream<Item = Result<Bytes, ApiError>>
where
    K: Clone + Send + 'static,
    T: Send + 'static,
    F: Fn(&mut Conn, Option<K>) -> Result<Vec<T>, DbError> + Clone + Send + Sync + 'static,
    G: Fn(&T) -> K + Clone + 'static,
    R: Fn(bool, bool, &[T]) -> Result<Vec<u8>, ApiError> + Clone + 'static,
{
    stream::unfold(Page { after: None, first: true, done: false }, move |mut st: Page<K>| {
        let (shared, fetch, key, render) = (shared.clone(), fetch.clone(), key.clone(), render.clone());
        async move {
            if st.done {
                return None;
            }
            let after = st.after.clone();
            let rows = match shared.db.run(move |c| fetch(c, after)).await {
                Ok(rows) => rows,
                Err(e) => {
                    slog::warn!(shared.log, "export ended early"; "export" => what, "error" => %e);
                    st.done = true;
                    return Some((Err(db_error(e)), st));
                }
            };
            st.done = rows.len() < size;
            st.after = rows.last().map(&key).or(st.after);
            let chunk = render(st.first, st.done, &rows);
            st.first = false;
            Some((chunk.map(Bytes::from), st))
        }
    })
}
