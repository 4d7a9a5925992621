defmodule Linx.Test.DocExamples do
  @moduledoc """
  Runs the examples of a guide directory (`docs/<area>/*.md`) as tests.

      use Linx.Test.DocExamples, area: "netlink", scratch_netns: true

  makes one test checking that `OVERVIEW.md` and `EXAMPLES.md` exist, and one per page
  running every ```elixir block in document order with one shared binding and
  environment — aliases and imports made in one block stay visible in the next, as when
  a reader pastes them into IEx or a Livebook. Examples state what they expect as
  pattern matches, so a wrong result raises and the test names the page and line.

  With `scratch_netns: true` the guides' namespace name `"linx-demo"` is replaced by a
  sandbox name, removed when the test ends, so a failing run leaves nothing behind.
  """

  import ExUnit.Assertions

  defmacro __using__(opts) do
    area = Keyword.fetch!(opts, :area)
    scratch_netns = Keyword.get(opts, :scratch_netns, false)

    quote bind_quoted: [area: area, scratch_netns: scratch_netns] do
      @scratch_netns scratch_netns
      @docs Path.wildcard(Path.expand("../../docs/#{area}/*.md", __DIR__))

      test "the #{area} guides exist" do
        names = Enum.map(@docs, &Path.basename/1)
        assert "OVERVIEW.md" in names
        assert "EXAMPLES.md" in names
      end

      for doc <- @docs do
        @external_resource doc
        @doc_path doc
        test "every example in #{Path.basename(doc)} runs" do
          Linx.Test.DocExamples.run!(@doc_path, @scratch_netns)
        end
      end
    end
  end

  @doc "Runs every elixir block of `doc`; see the moduledoc."
  @spec run!(Path.t(), boolean()) :: :ok
  def run!(doc, scratch_netns) do
    blocks = elixir_blocks(File.read!(doc))
    assert blocks != [], "#{doc} has no elixir examples"
    rename = if scratch_netns, do: scratch_netns!(), else: & &1

    Enum.reduce(blocks, {[], Code.env_for_eval(file: doc)}, fn {line, code}, {binding, env} ->
      try do
        quoted = Code.string_to_quoted!(rename.(code), file: doc, line: line)
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

    :ok
  end

  defp scratch_netns! do
    name = Linx.Test.Sandbox.unique_name("docs")

    ExUnit.Callbacks.on_exit(fn ->
      System.cmd("ip", ["netns", "delete", name], stderr_to_stdout: true)
    end)

    &String.replace(&1, "linx-demo", name)
  end

  @doc "`{first line of the code, code}` for each ```elixir fence of `text`."
  @spec elixir_blocks(String.t()) :: [{pos_integer(), String.t()}]
  def elixir_blocks(text) do
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
