defmodule Linx.NativeBuild.JSON do
  @moduledoc false
  # A small, strict JSON reader for cargo's `--message-format=json` lines. Linx has no
  # dependencies, and OTP 25 has no JSON module, so the build reads JSON itself.

  @spec decode(binary()) :: {:ok, term()} | {:error, term()}
  def decode(text) when is_binary(text) do
    case value(skip_ws(text)) do
      {:ok, value, rest} ->
        if skip_ws(rest) == "", do: {:ok, value}, else: {:error, :trailing_data}

      {:error, _} = error ->
        error
    end
  end

  defp skip_ws(<<c, rest::binary>>) when c in [?\s, ?\t, ?\n, ?\r], do: skip_ws(rest)
  defp skip_ws(rest), do: rest

  defp value(<<?{, rest::binary>>), do: object(skip_ws(rest), %{})
  defp value(<<?[, rest::binary>>), do: array(skip_ws(rest), [])
  defp value(<<?", rest::binary>>), do: string(rest, [])
  defp value(<<"true", rest::binary>>), do: {:ok, true, rest}
  defp value(<<"false", rest::binary>>), do: {:ok, false, rest}
  defp value(<<"null", rest::binary>>), do: {:ok, nil, rest}
  defp value(<<c, _::binary>> = text) when c == ?- or c in ?0..?9, do: number(text)
  defp value(_), do: {:error, :syntax}

  defp object(<<?}, rest::binary>>, acc), do: {:ok, acc, rest}

  defp object(<<?", rest::binary>>, acc) do
    with {:ok, key, rest} <- string(rest, []),
         <<?:, rest::binary>> <- skip_ws(rest),
         {:ok, val, rest} <- value(skip_ws(rest)) do
      acc = Map.put(acc, key, val)

      case skip_ws(rest) do
        <<?,, rest::binary>> -> object(skip_ws(rest), acc)
        <<?}, rest::binary>> -> {:ok, acc, rest}
        _ -> {:error, :syntax}
      end
    else
      {:error, _} = error -> error
      _ -> {:error, :syntax}
    end
  end

  defp object(_, _), do: {:error, :syntax}

  defp array(<<?], rest::binary>>, acc), do: {:ok, Enum.reverse(acc), rest}

  defp array(text, acc) do
    with {:ok, val, rest} <- value(text) do
      case skip_ws(rest) do
        <<?,, rest::binary>> -> array(skip_ws(rest), [val | acc])
        <<?], rest::binary>> -> {:ok, Enum.reverse([val | acc]), rest}
        _ -> {:error, :syntax}
      end
    end
  end

  defp string(<<?", rest::binary>>, acc), do: {:ok, IO.iodata_to_binary(Enum.reverse(acc)), rest}

  defp string(<<?\\, c, rest::binary>>, acc) when c in ~c(\"\\/bfnrt) do
    string(rest, [unescape(c) | acc])
  end

  defp string(<<?\\, ?u, hex::binary-size(4), rest::binary>>, acc) do
    case Integer.parse(hex, 16) do
      {hi, ""} when hi in 0xD800..0xDBFF ->
        case rest do
          <<?\\, ?u, hex2::binary-size(4), rest2::binary>> ->
            case Integer.parse(hex2, 16) do
              {lo, ""} when lo in 0xDC00..0xDFFF ->
                cp = 0x10000 + (hi - 0xD800) * 0x400 + (lo - 0xDC00)
                string(rest2, [<<cp::utf8>> | acc])

              _ ->
                {:error, :bad_surrogate}
            end

          _ ->
            {:error, :bad_surrogate}
        end

      {cp, ""} when cp in 0xDC00..0xDFFF ->
        {:error, :bad_surrogate}

      {cp, ""} ->
        string(rest, [<<cp::utf8>> | acc])

      _ ->
        {:error, :bad_escape}
    end
  end

  defp string(<<?\\, _::binary>>, _acc), do: {:error, :bad_escape}
  defp string(<<c, rest::binary>>, acc), do: string(rest, [c | acc])
  defp string(<<>>, _acc), do: {:error, :unterminated_string}

  defp unescape(?b), do: ?\b
  defp unescape(?f), do: ?\f
  defp unescape(?n), do: ?\n
  defp unescape(?r), do: ?\r
  defp unescape(?t), do: ?\t
  defp unescape(c), do: c

  defp number(text) do
    {token, rest} = take_number(text, [])

    parsed =
      if String.contains?(token, [".", "e", "E"]),
        do: Float.parse(token),
        else: Integer.parse(token)

    case parsed do
      {n, ""} -> {:ok, n, rest}
      _ -> {:error, :bad_number}
    end
  end

  defp take_number(<<c, rest::binary>>, acc) when c in ~c(+-0123456789.eE),
    do: take_number(rest, [c | acc])

  defp take_number(rest, acc), do: {acc |> Enum.reverse() |> List.to_string(), rest}
end
