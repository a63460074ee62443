//! Asynchronous operations (`/operations/{id}`).

use super::*;

pub(super) async fn operation(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> YResult<Response> {
    auth(&emu, &headers)?;
    let st = lock(&emu.disk);
    let status = match st.ops.get(&id) {
        Some(OpState::Fixed(s)) => *s,
        Some(OpState::Timed(at, s)) => {
            if Instant::now() >= *at {
                *s
            } else {
                "in-progress"
            }
        }
        None => {
            return Err(YError::new(
                404,
                "DiskOperationNotFoundError",
                "Операция не найдена.",
                "Operation not found.",
            ));
        }
    };
    Ok(reply(&q, json!({"status": status})))
}
