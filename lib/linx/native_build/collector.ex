defmodule Linx.NativeBuild.Collector do
  @moduledoc false
  # Reads cargo's JSON message stream line by line: prints each compiler message as
  # rustc rendered it, remembers artifacts to install and crates that failed.
  defstruct artifacts: [], failed_crates: [], partial: ""

  defimpl Collectable do
    def into(acc) do
      {acc, &collect/2}
    end

    defp collect(acc, {:cont, chunk}) do
      {lines, [partial]} = Enum.split(String.split(acc.partial <> chunk, "\n"), -1)
      Enum.reduce(lines, %{acc | partial: partial}, &handle_line/2)
    end

    defp collect(acc, :done), do: handle_line(acc.partial, %{acc | partial: ""})
    defp collect(_acc, :halt), do: :ok

    defp handle_line("", acc), do: acc

    defp handle_line(line, acc) do
      case Linx.NativeBuild.JSON.decode(line) do
        {:ok, %{"reason" => "compiler-artifact"} = msg} -> artifact(msg, acc)
        {:ok, %{"reason" => "compiler-message"} = msg} -> message(msg, acc)
        {:ok, _other} -> acc
        {:error, _} -> echo(line, acc)
      end
    end

    # A line that is not JSON (a build script's output, say) is shown as it is.
    defp echo(line, acc) do
      IO.puts(line)
      acc
    end

    defp artifact(%{"target" => %{"kind" => kinds}, "filenames" => files} = msg, acc) do
      found =
        cond do
          "cdylib" in kinds -> for f <- files, String.ends_with?(f, ".so"), do: {:cdylib, f}
          # A binary's own path is the message's "executable" (its "filenames" may also
          # list split debug info).
          "bin" in kinds and is_binary(msg["executable"]) -> [{:bin, msg["executable"]}]
          true -> []
        end

      %{acc | artifacts: acc.artifacts ++ found}
    end

    defp artifact(_msg, acc), do: acc

    defp message(%{"message" => message} = msg, acc) do
      if rendered = message["rendered"], do: IO.write(:stderr, rendered)

      if message["level"] in ["error", "error: internal compiler error"] do
        %{acc | failed_crates: [crate_name(msg) | acc.failed_crates]}
      else
        acc
      end
    end

    defp crate_name(%{"target" => %{"name" => name}}), do: name
    defp crate_name(%{"package_id" => id}), do: id
    defp crate_name(_), do: "unknown"
  end
end
