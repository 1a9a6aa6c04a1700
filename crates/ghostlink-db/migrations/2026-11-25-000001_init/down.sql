DROP TABLE clicks; DROP TABLE links; DROP TABLE api_tokens;
