defmodule Linx.Process.Options do
  @moduledoc false
  # Validation of spawn/1 and enter/2 options into the agent's request map, with 0.2's
  # error tuples. Values are checked in a fixed order (argv, namespaces, env, stdio, cwd,
  # no_new_privs, orphan_policy, then the session's own options), so the first offender
  # is the one reported. Unknown keys are programmer errors and raise.

  @namespaces ~w(net mount pid uts ipc user cgroup time)a
  @stdio_atoms ~w(inherit devnull pty pipe)a
  @fd_names ~w(stdin stdout stderr)a
  @max_grace 2_147_483_647

  @known ~w(argv namespaces env cwd owner stdio linger auto_proceed no_new_privs
            orphan_policy agent)a

  @type session_opts :: %{
          optional(:prestart?) => boolean(),
          optional(:port) => port() | nil,
          optional(:key) => integer() | nil,
          owner: pid() | atom(),
          linger: boolean(),
          auto_proceed: boolean(),
          agent: String.t() | nil,
          pty?: boolean(),
          stdin_pipe?: boolean()
        }

  @doc false
  @spec namespaces() :: [atom()]
  def namespaces, do: @namespaces

  @spec spawn_request(keyword()) :: {:ok, map(), session_opts()} | {:error, term()}
  def spawn_request(opts) do
    check_keys!(opts)

    with {:ok, request} <- common(opts),
         {:ok, ns} <- namespaces(Keyword.get(opts, :namespaces, [])),
         {:ok, request} <- finish(Map.put(request, :namespaces, ns), opts),
         {:ok, session} <- session(opts, request) do
      {:ok, request, session}
    end
  end

  @spec enter_request(pos_integer(), keyword()) ::
          {:ok, map(), session_opts()} | {:error, term()}
  def enter_request(target, opts) do
    check_keys!(opts)

    with {:ok, request} <- common(opts),
         {:ok, request} <- enter_namespaces(request, opts),
         {:ok, request} <- finish(Map.put(request, :target, target), opts),
         {:ok, session} <- session(opts, request) do
      {:ok, request, session}
    end
  end

  defp check_keys!(opts) do
    unless is_list(opts) and Enum.all?(opts, &match?({k, _} when is_atom(k), &1)) do
      raise ArgumentError, "Linx.Process options must be a keyword list, got: #{inspect(opts)}"
    end

    case Enum.find(Keyword.keys(opts), &(&1 not in @known)) do
      nil ->
        :ok

      key ->
        raise ArgumentError,
              "unknown Linx.Process option #{inspect(key)} (known: #{inspect(@known)})"
    end
  end

  defp common(opts) do
    with {:ok, argv} <- argv(Keyword.fetch(opts, :argv)) do
      {:ok, %{argv: argv}}
    end
  end

  defp enter_namespaces(request, opts) do
    case Keyword.fetch(opts, :namespaces) do
      :error ->
        {:ok, request}

      {:ok, list} ->
        with {:ok, ns} <- namespaces(list), do: {:ok, Map.put(request, :namespaces, ns)}
    end
  end

  defp finish(request, opts) do
    with {:ok, request} <- put_optional(request, :env, env(opts)),
         {:ok, request} <- put_optional(request, :stdio, stdio(Keyword.get(opts, :stdio))),
         {:ok, request} <- put_optional(request, :cwd, cwd(opts)),
         {:ok, request} <- put_optional(request, :no_new_privs, nnp(opts)) do
      put_optional(request, :orphan_policy, orphan_policy(opts))
    end
  end

  defp put_optional(_request, _key, {:error, _} = error), do: error
  defp put_optional(request, _key, {:ok, nil}), do: {:ok, request}
  defp put_optional(request, key, {:ok, value}), do: {:ok, Map.put(request, key, value)}

  # argv: a non-empty list of binaries, the first an absolute path; no NUL anywhere
  # (execve would silently truncate at it).
  defp argv({:ok, [first | _] = argv}) when is_binary(first) do
    if String.starts_with?(first, "/") and Enum.all?(argv, &c_string?/1),
      do: {:ok, argv},
      else: {:error, {:bad_argv, argv}}
  end

  defp argv(_), do: {:error, :argv_required}

  defp c_string?(s), do: is_binary(s) and not String.contains?(s, <<0>>)

  defp namespaces(list) when is_list(list) do
    case Enum.reject(list, &(&1 in @namespaces)) do
      [] -> {:ok, Enum.uniq(list)}
      unknown -> {:error, {:bad_namespaces, unknown}}
    end
  end

  defp namespaces(other), do: {:error, {:bad_namespaces, {:not_a_list, other}}}

  defp env(opts) do
    case Keyword.fetch(opts, :env) do
      :error ->
        {:ok, nil}

      {:ok, list} when is_list(list) ->
        cond do
          not Enum.all?(list, &is_binary/1) ->
            {:error, {:bad_env, {:not_all_binaries, list}}}

          bad = Enum.find(list, &String.contains?(&1, <<0>>)) ->
            {:error, {:bad_env, {:nul_byte, bad}}}

          true ->
            {:ok, list}
        end

      {:ok, other} ->
        {:error, {:bad_env, {:not_a_list, other}}}
    end
  end

  defp stdio(nil), do: {:ok, nil}
  defp stdio(atom) when atom in @stdio_atoms, do: {:ok, atom}

  defp stdio(list) when is_list(list) and list != [] do
    Enum.reduce_while(list, {:ok, []}, fn entry, {:ok, acc} ->
      case entry do
        {fd, dir} when fd in @fd_names ->
          cond do
            Keyword.has_key?(acc, fd) -> {:halt, {:error, {:bad_stdio, {:bad_fd_entry, entry}}}}
            directive?(dir) -> {:cont, {:ok, acc ++ [{fd, dir}]}}
            true -> {:halt, {:error, {:bad_stdio, {:bad_directive, dir}}}}
          end

        _ ->
          {:halt, {:error, {:bad_stdio, {:bad_fd_entry, entry}}}}
      end
    end)
  end

  defp stdio(other), do: {:error, {:bad_stdio, other}}

  # A PTY is one device for all three fds: there is no per-fd :pty.
  defp directive?(dir) when dir in [:inherit, :devnull, :pipe], do: true

  defp directive?({:connect_unix, path}),
    do: is_binary(path) and path != "" and c_string?(path)

  defp directive?(_), do: false

  defp cwd(opts) do
    case Keyword.fetch(opts, :cwd) do
      :error -> {:ok, nil}
      {:ok, cwd} when is_binary(cwd) and cwd != "" -> check_nul(cwd, {:bad_cwd, cwd})
      {:ok, other} -> {:error, {:bad_cwd, other}}
    end
  end

  defp check_nul(value, error), do: if(c_string?(value), do: {:ok, value}, else: {:error, error})

  defp nnp(opts) do
    case Keyword.get(opts, :no_new_privs, false) do
      true -> {:ok, true}
      false -> {:ok, nil}
      other -> {:error, {:bad_no_new_privs, other}}
    end
  end

  defp orphan_policy(opts) do
    case Keyword.fetch(opts, :orphan_policy) do
      :error ->
        {:ok, nil}

      {:ok, {:kill, ms} = policy} when is_integer(ms) and ms >= 0 and ms <= @max_grace ->
        {:ok, policy}

      {:ok, other} ->
        {:error, {:bad_orphan_policy, other}}
    end
  end

  defp session(opts, request) do
    owner = Keyword.get(opts, :owner, self())
    linger = Keyword.get(opts, :linger, true)
    auto = Keyword.get(opts, :auto_proceed, false)
    agent = Keyword.get(opts, :agent)

    cond do
      not (is_pid(owner) or (is_atom(owner) and owner not in [nil, true, false])) ->
        {:error, {:bad_owner, owner}}

      not is_boolean(linger) ->
        {:error, {:bad_linger, linger}}

      not is_boolean(auto) ->
        {:error, {:bad_auto_proceed, auto}}

      not (is_nil(agent) or (is_binary(agent) and c_string?(agent))) ->
        {:error, {:bad_agent, agent}}

      true ->
        stdio = Map.get(request, :stdio)

        {:ok,
         %{
           owner: owner,
           linger: linger,
           auto_proceed: auto,
           agent: agent,
           pty?: stdio == :pty,
           stdin_pipe?: stdio == :pipe or (is_list(stdio) and stdio[:stdin] == :pipe)
         }}
    end
  end
end
