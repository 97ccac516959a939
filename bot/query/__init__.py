"""The keyword query language of `rules.toml`.

- `bot.query.parse`: the syntax tree, `parse_query` and `TermLists` (`[terms]`, `@name`).
- `bot.query.match`: the `Matcher`, all rules compiled together and matched against one text.
- `bot.query.near`: near misses, texts that miss one branch of an AND (`vedette test-rule`).
- `bot.query.screen`: a cheap test that rules out most texts a query cannot match.
- `bot.query.textnorm`: normalisation and tokenisation shared by queries and the texts they match.
"""
