//! Signing in and out, the signed-in user, and the user's long-lived API tokens.

use super::*;

/// The routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/tokens", get(list_tokens).post(new_token))
        .route("/api/auth/tokens/{id}", delete(revoke_token))
        .route("/api/me", get(me))
        .route("/api/auth/guest", get(guest))
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

async fn login(
    State(st): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(b): Json<LoginBody>,
) -> ApiResult<Json<Value>> {
    let (token, expires, user) = st.users.login(addr.ip(), &b.username, &b.password).await?;
    Ok(Json(
        json!({"token": token, "expires_at": expires, "user": user}),
    ))
}

async fn logout(State(st): State<Arc<AppState>>, a: Authed) -> ApiResult<StatusCode> {
    st.users.logout(&a.0.name, &a.1).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether someone who has not signed in may browse (some mount is open to guests): asked by the page
/// before it shows the sign-in form, without an error to log when none is.
async fn guest(State(st): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"open": Authed::guest(&st).is_some()}))
}

async fn me(a: Authed) -> Json<Value> {
    Json(json!({"user": a.0}))
}

/// API tokens one user may hold.
pub const MAX_API_TOKENS: usize = 50;

#[derive(Deserialize)]
struct NewToken {
    #[serde(default)]
    label: String,
}

async fn new_token(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let label: String = if b.label.is_empty() { "api" } else { &b.label }
        .chars()
        .take(100)
        .collect();
    let label = label.as_str();
    if st.users.db().tokens_of(&a.0.name, "api").await?.len() >= MAX_API_TOKENS {
        return Err(Error::new(
            ErrorKind::RateLimited,
            format!("{} has {MAX_API_TOKENS} API tokens already", a.0.name),
        )
        .with_hint("revoke one you no longer use (DELETE /api/auth/tokens/ID)")
        .into());
    }
    let token = st.users.issue(&a.0.name, "api", label, 0).await?;
    let id = crate::house::users::token_hash(&token);
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "id": id, "label": label})),
    ))
}

async fn list_tokens(State(st): State<Arc<AppState>>, a: Authed) -> ApiResult<Json<Value>> {
    let ts = st.users.db().tokens_of(&a.0.name, "api").await?;
    Ok(Json(json!({"tokens": ts.iter().map(|t| json!({
        "id": t.token_hash, "label": t.label, "created": t.created,
    })).collect::<Vec<_>>()})))
}

async fn revoke_token(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if st.users.db().remove_token(&a.0.name, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("token {id}")).into())
    }
}
