Code.require_file("nft_json.exs", __DIR__)
Code.require_file("nftnl_render.exs", __DIR__)

defmodule Linx.Netfilter.ConformanceTest do
  # Offline conformance against the nftables project's own rule tests
  # (tests/py of nftables 1.0.6: `NAME.t`, `NAME.t.json`, `NAME.t.payload[.FAMILY]`).
  #
  # For every `ok` rule of every table a `.t` file declares, the rule's JSON form is
  # compiled into Linx expressions (Linx.Test.NftJson: the subset Linx expresses,
  # with nft's implicit dependencies); the rule is encoded by the Linx codec exactly as
  # a push would send it, decoded back from those bytes, rendered in libnftnl's debug
  # notation (Linx.Test.NftnlRender) and compared line by line with the `.payload`
  # block nft itself produced for that family. Rules outside the subset are counted as
  # not expressible, never as passes. The figures are printed (and written to
  # `_build/nft-conformance.txt` with every mismatch).
  #
  # The data is read in place: set NFT_TESTS_PY to the folder (default
  # ../shared/conformance/nftables-tests-py). Without it the test is skipped, and
  # says why.
  use ExUnit.Case, async: true

  alias Linx.Netfilter.{Codec, Native, Rule}
  alias Linx.Test.{NftJson, NftnlRender}

  @dir (System.get_env("NFT_TESTS_PY") ||
          Enum.find(
            [
              "../shared/conformance/nftables-tests-py",
              "../../shared/conformance/nftables-tests-py"
            ],
            "../shared/conformance/nftables-tests-py",
            &File.dir?/1
          ))
       |> Path.expand()

  # Floor for the pass count, so a regression in the codec fails the suite; the
  # measured figure is printed on every run.
  @min_passes 1800

  if not File.dir?(@dir) do
    @moduletag skip: "nftables tests-py data not found at #{@dir} (set NFT_TESTS_PY)"
  end

  test "rule encodings match nft's .payload blocks" do
    results =
      @dir
      |> Path.join("*/*.t")
      |> Path.wildcard()
      |> Enum.sort()
      |> Enum.flat_map(&check_file/1)

    by = Enum.group_by(results, &elem(&1, 0))
    passed = length(by[:pass] || [])
    failed = length(by[:fail] || [])
    skipped = length(by[:unsupported] || [])
    nopayload = length(by[:no_payload] || [])
    total = length(results)

    summary =
      "nft conformance (payload): #{passed}/#{passed + failed} expressible rules match " <>
        "(#{total} rule x table cases: #{passed} pass, #{failed} differ, #{skipped} not expressible, " <>
        "#{nopayload} without a payload block)"

    report =
      [
        summary,
        ""
        | for(
            {:fail, where, rule, want, got} <- results,
            do: "FAIL #{where}: #{rule}\n  want: #{inspect(want)}\n  got:  #{inspect(got)}"
          )
      ] ++
        [
          ""
          | for(
              {:unsupported, where, rule, why} <- results,
              do: "SKIP #{where}: #{rule} (#{why})"
            )
        ]

    File.mkdir_p!("_build")
    File.write!("_build/nft-conformance.txt", Enum.join(report, "\n"))
    IO.puts(summary)
    assert passed >= @min_passes, summary
  end

  defp check_file(t_path) do
    family_dir = t_path |> Path.dirname() |> Path.basename()
    lines = File.read!(t_path) |> String.split("\n")
    json = parse_blocks(t_path <> ".json", &decode_json/1)

    {_tables, results} =
      Enum.reduce(lines, {[], []}, fn line, {tables, acc} ->
        cond do
          String.starts_with?(line, "*") ->
            [fam, table, _chains] = line |> String.trim_leading("*") |> String.split(";")
            {tables ++ [{String.to_atom(fam), table}], acc}

          rule_line?(line) ->
            [rule, status | _] = String.split(line, ";")

            if status == "ok" do
              {tables, acc ++ Enum.map(tables, &check_rule(t_path, family_dir, &1, rule, json))}
            else
              {tables, acc}
            end

          true ->
            {tables, acc}
        end
      end)

    results
  end

  defp rule_line?(line) do
    line != "" and not String.starts_with?(line, ["#", ":", "*", "!", "?", "%", "-"]) and
      String.contains?(line, ";")
  end

  defp check_rule(t_path, dir, {family, _table}, rule, json) do
    where = "#{dir}/#{Path.basename(t_path)} #{family}"
    payloads = payload_blocks(t_path, family)

    with {:ok, want} <- Map.fetch(payloads, rule) |> ok_or(:no_payload),
         {:ok, statements} <- Map.fetch(json, rule) |> ok_or(:no_json),
         {:ok, exprs} <- NftJson.compile(family, statements) do
      got = render(family, exprs)
      if got == want, do: {:pass, where, rule}, else: {:fail, where, rule, want, got}
    else
      {:error, :no_payload} -> {:no_payload, where, rule}
      {:error, :no_json} -> {:unsupported, where, rule, "no JSON form"}
      {:unsupported, why} -> {:unsupported, where, rule, why}
    end
  end

  defp ok_or({:ok, v}, _), do: {:ok, v}
  defp ok_or(:error, tag), do: {:error, tag}

  # Encode as a push would (anonymous sets included), decode the NEWRULE bytes, render.
  defp render(family, exprs) do
    rule = %Rule{expressions: exprs}
    {items, _} = Codec.rule_items(family, "t", "c", rule, 0, [], Codec.new_ctx())
    {{:new_rule, ^family, map}, _} = List.last(items)
    {:ok, [{type, _flags, payload}]} = Native.encode_messages({:new_rule, family, map})
    {:ok, {:new_rule, _, decoded}} = Native.decode(type, payload)
    NftnlRender.render(decoded[:exprs] || [])
  rescue
    e -> ["render failed: #{Exception.message(e)}"]
  end

  defp payload_blocks(t_path, family) do
    specific = "#{t_path}.payload.#{family}"
    path = if File.exists?(specific), do: specific, else: t_path <> ".payload"

    key = {__MODULE__, path}

    case Process.get(key) do
      nil ->
        blocks =
          if File.exists?(path) do
            parse_blocks(path, fn text ->
              text
              |> String.split("\n")
              |> Enum.map(&String.trim/1)
              |> Enum.filter(&String.starts_with?(&1, "["))
            end)
          else
            %{}
          end

        Process.put(key, blocks)
        blocks

      blocks ->
        blocks
    end
  end

  # "# RULE\n<body>" blocks, keyed by RULE.
  defp parse_blocks(path, fun) do
    case File.read(path) do
      {:ok, text} ->
        text
        |> String.split(~r/^# /m, trim: true)
        |> Enum.reduce(%{}, fn block, acc ->
          case String.split(block, "\n", parts: 2) do
            [rule, body] ->
              case fun.(body) do
                nil -> acc
                v -> Map.put_new(acc, String.trim(rule), v)
              end

            _ ->
              acc
          end
        end)

      {:error, _} ->
        %{}
    end
  end

  defp decode_json(body) do
    case Linx.NativeBuild.JSON.decode(String.trim(body)) do
      {:ok, list} when is_list(list) -> list
      _ -> nil
    end
  end
end
