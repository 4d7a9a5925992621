defmodule Linx.Docs.ProcessDocsTest do
  # Every ```elixir block of docs/process/*.md runs here, in document order with one
  # shared binding, the way a reader pastes them into IEx. The examples state what they
  # expect as pattern matches, so a wrong result raises here. Everything they create
  # (namespaces, links) belongs to workloads linked to this test, which end with it.
  use ExUnit.Case, async: false

  @moduletag :root

  @docs Path.wildcard(Path.expand("../../docs/process/*.md", __DIR__))

  test "the process guides exist" do
    names = Enum.map(@docs, &Path.basename/1)
    assert "OVERVIEW.md" in names
    assert "EXAMPLES.md" in names
  end

  for doc <- @docs do
    @external_resource doc
    test "every example in #{Path.basename(doc)} runs" do
      doc = unquote(doc)
      blocks = elixir_blocks(File.read!(doc))
      assert blocks != [], "#{doc} has no elixir examples"

      # Aliases made in one block stay visible in the next, as in IEx.
      env = Code.env_for_eval(file: doc)

      Enum.reduce(blocks, {[], env}, fn {line, code}, {binding, env} ->
        try do
          quoted = Code.string_to_quoted!(code, file: doc, line: line)
          {_value, binding, env} = Code.eval_quoted_with_env(quoted, binding, env)
          {binding, env}
        rescue
          e ->
            flunk(
              "example at #{Path.basename(doc)}:#{line} raised:\n" <>
                Exception.format(:error, e, __STACKTRACE__)
            )
        end
      end)
    end
  end

  # {first line of the code, code} for each ```elixir fence.
  defp elixir_blocks(text) do
    text
    |> String.split("\n")
    |> Enum.with_index(1)
    |> Enum.reduce({nil, []}, fn
      {"```elixir" <> _, n}, {nil, acc} -> {{n + 1, []}, acc}
      {"```" <> _, _n}, {{start, lines}, acc} -> {nil, [{start, lines} | acc]}
      {line, _n}, {{start, lines}, acc} -> {{start, [line | lines]}, acc}
      {_line, _n}, {nil, acc} -> {nil, acc}
    end)
    |> elem(1)
    |> Enum.reverse()
    |> Enum.map(fn {start, lines} -> {start, lines |> Enum.reverse() |> Enum.join("\n")} end)
  end
end
