//! GhostLink shortener service: the public create API and the admin API with its OpenAPI description.
